// Correctness against a reference no one here wrote: llama2.c's run.c, built outside the
// project, printed test/fixtures/engine/stories260K-greedy-200.txt for stories260K at
// temperature 0 with 200 steps. The converted model must print exactly that, on every
// CPU backend.
import { readFileSync } from "node:fs";
import path from "node:path";

import { REPO_ROOT, runCli, STORIES_DIR, STORIES_PRESENT, tempDir } from "./cli.js";

const expected = readFileSync(path.join(REPO_ROOT, "test", "fixtures", "engine", "stories260K-greedy-200.txt"), "utf8");

if (!STORIES_PRESENT) console.log(`stories260K tests skipped: ${STORIES_DIR} is absent`);
const describeIfModel = STORIES_PRESENT ? describe : describe.skip;

describeIfModel("stories260K converted from llama2.c", () => {
  const out = tempDir("stories260k");

  beforeAll(async () => {
    const r = await runCli([
      "convert", "llama2c",
      "--checkpoint", path.join(STORIES_DIR, "stories260K.bin"),
      "--tokenizer", path.join(STORIES_DIR, "tok512.bin"),
      "--out", out,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test.each(["cpu", "cpu-reference"])("greedy 200 tokens from BOS on %s print what run.c prints", async (device) => {
    const r = await runCli(["generate", "--model", out, "--prompt", "", "--temperature", "0", "--max-tokens", "200", "--device", device]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expected);
  });
});
