// `quiver train zoo`: the whole pipeline at a few steps (suite, base model from a seed, one
// adapter per task, the retriever head, manifest), bit-for-bit the same when run twice, retraining one adapter
// on a reused base, and bad options refused before anything is written.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";

import { Engine } from "@quiver/engine";

import { readZooManifest } from "../../apps/api/src/zoo/manifest.js";
import { TASKS } from "../../apps/api/src/zoo/suite.js";
import { runCli, tempDir } from "../../native/test/cli.js";

const root = tempDir("train-zoo");
const a = path.join(root, "a");
const b = path.join(root, "b");
const tiny = ["--base-steps", "3", "--adapter-steps", "2", "--seed", "11"];

const files = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();

describe("quiver train zoo", () => {
  beforeAll(async () => {
    const [ra, rb] = [await runCli(["train", "zoo", "--out", a, ...tiny, "--json"]), await runCli(["train", "zoo", "--out", b, ...tiny, "--threads", "1"])];
    expect(ra.stderr).toMatch(/adapter 24\/24/);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
  }, 180_000);

  test("writes the base model, one PEFT adapter per task and the manifest", async () => {
    const m = readZooManifest(a);
    expect(m.seed).toBe(11);
    expect(m.tasks.map((t) => t.name)).toEqual(TASKS.map((t) => t.name));
    for (const t of m.tasks) {
      expect(existsSync(path.join(a, t.adapter, "adapter_model.safetensors"))).toBe(true);
      expect(t.samples).toHaveLength(20);
      expect(t.test.length).toBeGreaterThan(0);
    }
    expect(existsSync(path.join(a, "training.json"))).toBe(true);
    // The retriever head: trained on every task's samples under the default encoder.
    expect(m.retrieverHead).toBe("retriever-head");
    const head = JSON.parse(readFileSync(path.join(a, m.retrieverHead!, "head.json"), "utf8")) as { base: string; training: { tasks: string[] } };
    expect(head.base).toBe("use-lite@0.2.0");
    expect(head.training.tasks).toEqual(m.tasks.map((t) => t.name));
    expect(existsSync(path.join(a, m.retrieverHead!, "head.onnx"))).toBe(true);
    const engine = await Engine.open(path.join(a, m.model), { device: "cpu" });
    expect(engine.info.numParameters).toBeLessThan(5_000_000);
    expect(engine.tokenizer!.promptTemplate).toBe("{prompt}\n");
    await engine.loadAdapter(path.join(a, m.tasks[0]!.adapter));
    await engine.close();
  });

  test("the same seed gives the same bytes, whatever the thread count", () => {
    const fa = files(a).filter((f) => f !== "training.json");
    expect(files(b).filter((f) => f !== "training.json")).toEqual(fa);
    for (const f of fa) expect(readFileSync(path.join(b, f)).equals(readFileSync(path.join(a, f)))).toBe(true);
  });

  test("--reuse-base with --only retrains one adapter and copies the rest", async () => {
    const c = path.join(root, "c");
    const r = await runCli(["train", "zoo", "--out", c, "--reuse-base", a, "--only", "plural-food", "--adapter-steps", "3", "--seed", "11"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/adapter \d+\/24 plural-food/);
    expect(r.stderr).not.toMatch(/upper-animal:/);
    const same = (f: string) => readFileSync(path.join(c, f)).equals(readFileSync(path.join(a, f)));
    expect(same("model/model.safetensors")).toBe(true);
    expect(same("adapters/upper-animal/adapter_model.safetensors")).toBe(true);
    expect(same("adapters/plural-food/adapter_model.safetensors")).toBe(false);
    // The head depends on the samples only: retrained, the same bytes.
    expect(same("retriever-head/head.onnx")).toBe(true);
    expect(same("retriever-head/head.json")).toBe(true);
  }, 120_000);

  test.each([
    [["--only", "plural-food"], /--only needs --reuse-base/],
    [["--reuse-base", "REUSE", "--only", "nope"], /unknown task nope/],
    [["--base-steps", "0"], /base steps must be an integer from 1/],
    [["--adapter-steps", "x"], /--adapter-steps must be a whole number/],
    [["--reuse-base", "REUSE", "--seed", "12"], /made with seed 11, not 12/],
  ])("refuses %j before training", async (args, message) => {
    const out = path.join(root, `bad-${Math.random().toString(36).slice(2)}`);
    const r = await runCli(["train", "zoo", "--out", out, ...args.map((x) => (x === "REUSE" ? a : x))]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/base step \d+\/|adapter 1\//);
    expect(existsSync(out)).toBe(false);
  });
});
