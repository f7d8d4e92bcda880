// Faults stay small and nothing is lost: an allocation or an adapter upload that fails (the
// engine's test-only fault hook makes them fail on request, EngineOptions.testFaults) fails
// one call or one item with a code, leaks nothing, evicts nothing for good, and leaves an
// engine that serves exactly as before.
import path from "node:path";

import { Engine } from "@quiver/engine";

import { tempDir } from "./cli.js";
import { SMALL, writeRandomAdapter, writeRandomModel } from "./fixtures.js";

const root = tempDir("faults");
const modelDir = path.join(root, "model");
const model = writeRandomModel(modelDir, { ...SMALL, seed: 21 });
const adapterDirs = [0, 1, 2].map((i) => {
  const dir = path.join(root, `a${i}`);
  writeRandomAdapter(dir, model.config, { rank: 3 + i, alpha: 6, modules: ["q", "v", "down"], seed: 60 + i });
  return dir;
});

const DEVICES = ["cpu-reference", "cpu", "cuda-emulated"] as const;

/** The logits of `tokens` on a fresh sequence (freed after). */
async function logitsOf(engine: Engine, tokens: number[], adapters: { adapter: number; weight: number }[] = []) {
  const s = await engine.createSequence();
  const out = await engine.step([{ sequence: s, tokens, adapters, strategy: adapters.length ? "mixture" : "none" }], { logits: true });
  await engine.freeSequence(s);
  expect(out.results[0]!.error).toBeUndefined();
  return Array.from(out.logits!);
}

for (const device of DEVICES) describe(`faults on ${device}`, () => {
  test("a step whose buffers fail to grow rejects with OUT_OF_MEMORY; the next steps, smaller or larger, run", async () => {
    const engine = await Engine.open(modelDir, { device, testFaults: true });
    const fresh = await Engine.open(modelDir, { device });
    try {
      const s = await engine.createSequence();
      expect((await engine.step([{ sequence: s, tokens: [1] }])).results[0]!.ok).toBe(true); // buffers for 1 row
      // 8 rows: the step's buffers grow (s's cache holds 16 positions, so no other allocation
      // comes first); the third of them fails.
      await engine.setTestFaults({ failAlloc: 2 });
      await expect(engine.step([{ sequence: s, tokens: [2, 3, 4, 5, 6, 7, 8, 9] }])).rejects.toMatchObject({ code: "OUT_OF_MEMORY" });
      expect(await engine.sequenceLength(s)).toBe(1);
      // A step no larger than the buffers were before, then a larger one.
      expect(await logitsOf(engine, [5])).toEqual(await logitsOf(fresh, [5]));
      expect(await logitsOf(engine, [5, 9, 2, 7, 1, 3, 3, 8, 4, 6])).toEqual(await logitsOf(fresh, [5, 9, 2, 7, 1, 3, 3, 8, 4, 6]));
      expect((await engine.step([{ sequence: s, tokens: [2, 3, 4, 5, 6, 7, 8, 9] }])).results[0]!.ok).toBe(true);
      expect(await engine.sequenceLength(s)).toBe(9);
    } finally {
      await engine.close();
      await fresh.close();
    }
  });
});

test("the fault hook is inert unless the engine was opened for it", async () => {
  const engine = await Engine.open(modelDir, { device: "cpu" });
  await expect(engine.setTestFaults({ failAlloc: 0 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(engine.testState()).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await engine.close();
});
