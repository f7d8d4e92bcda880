// Correctness against a reference no one here wrote: llama2.c's run.c, built outside the
// project, printed test/fixtures/engine/stories260K-greedy-200.txt for stories260K at
// temperature 0 with 200 steps. The converted model must print exactly that, on every
// CPU backend.
import { readFileSync } from "node:fs";
import path from "node:path";

import { PROJECTIONS, writeSyntheticAdapter, type SyntheticModelSpec } from "@quiver/engine";

import { REPO_ROOT, runCli, STORIES_DIR, STORIES_PRESENT, tempDir } from "./cli.js";

const expected = readFileSync(path.join(REPO_ROOT, "test", "fixtures", "engine", "stories260K-greedy-200.txt"), "utf8");

if (!STORIES_PRESENT) console.log(`stories260K tests skipped: ${STORIES_DIR} is absent`);
const describeIfModel = STORIES_PRESENT ? describe : describe.skip;

describeIfModel("stories260K converted from llama2.c", () => {
  const out = tempDir("stories260k");

  beforeAll(async () => {
    const r = await runCli([
      "convert",
      "llama2c",
      "--checkpoint",
      path.join(STORIES_DIR, "stories260K.bin"),
      "--tokenizer",
      path.join(STORIES_DIR, "tok512.bin"),
      "--out",
      out,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  test.each(["cpu", "cpu-reference"])("greedy 200 tokens from BOS on %s print what run.c prints", async (device) => {
    const r = await runCli(["generate", "--model", out, "--prompt", "", "--temperature", "0", "--max-tokens", "200", "--device", device]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expected);
  });

  test("quiver generate composes adapters per strategy and rejects an adapter for another model", async () => {
    const stories: SyntheticModelSpec = { vocab: 512, dim: 64, hidden: 172, layers: 5, heads: 8, kvHeads: 4, maxPos: 512, tied: true, dtype: "F32", seed: 0 };
    const dirs = [1, 2].map((i) => {
      const d = path.join(out, `adapter-${i}`);
      writeSyntheticAdapter(d, stories, { rank: 4 * i, alpha: 8, rslora: false, modules: PROJECTIONS, seed: i, strength: 1 });
      return d;
    });
    const base = ["generate", "--model", out, "--prompt", "Once upon a time", "--max-tokens", "40", "--device", "cpu"];
    const plain = await runCli(base);
    expect(plain.code).toBe(0);
    const outputs = new Set([plain.stdout]);
    for (const strategy of ["mixture", "fusion", "fusion-cat", "selection"]) {
      const r = await runCli([...base, "--adapter", `${dirs[0]}=0.7`, "--adapter", dirs[1]!, "--strategy", strategy]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(20);
      outputs.add(r.stdout);
    }
    expect(outputs.size).toBeGreaterThan(2); // adapters change the text

    const other = path.join(out, "adapter-other");
    writeSyntheticAdapter(other, { ...stories, dim: 48, heads: 6, kvHeads: 3 }, { rank: 4, alpha: 8, rslora: false, modules: ["q_proj"], seed: 3 });
    const bad = await runCli([...base, "--adapter", other]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("[BASE_MISMATCH]");
    expect(bad.stderr).toContain("maybe wrong base model?");
  });
});
