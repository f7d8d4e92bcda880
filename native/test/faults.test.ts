// Faults stay small and nothing is lost: an allocation or an adapter upload that fails (the
// engine's test-only fault hook makes them fail on request, EngineOptions.testFaults) fails
// one call or one item with a code, leaks nothing, evicts nothing for good, and leaves an
// engine that serves exactly as before.
import path from "node:path";

import { Engine } from "@quiver/engine";

import { describeOn } from "./backends.js";
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

const DEVICES = ["cpu-reference", "cpu", "cuda-emulated", "cuda"] as const;

/** The backend allocations the engine holds. */
async function held(engine: Engine) {
  const { liveAllocations, liveBytes } = await engine.testState();
  return { liveAllocations, liveBytes };
}

/** The logits of `tokens` on a fresh sequence (freed after). */
async function logitsOf(engine: Engine, tokens: number[], adapters: { adapter: number; weight: number }[] = []) {
  const s = await engine.createSequence();
  const out = await engine.step([{ sequence: s, tokens, adapters, strategy: adapters.length ? "mixture" : "none" }], { logits: true });
  await engine.freeSequence(s);
  expect(out.results[0]!.error).toBeUndefined();
  return Array.from(out.logits!);
}

for (const device of DEVICES)
  describeOn(device)(`faults on ${device}`, () => {
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

    test("an adapter upload that fails after an eviction releases what it took and keeps the evicted adapter", async () => {
      const engine = await Engine.open(modelDir, { device, adapterSlots: 2, testFaults: true });
      try {
        const ids: number[] = [];
        for (const d of adapterDirs) ids.push(await engine.loadAdapter(d));
        const one = (i: number) => [{ adapter: ids[i]!, weight: 0.8 }];
        const before0 = await logitsOf(engine, [4, 4, 7], one(0));
        await logitsOf(engine, [1], one(1)); // slots: 0 (least recently used), 1
        const before = await held(engine);
        // Adapter 2 evicts adapter 0; the fourth of its six module uploads fails.
        await engine.setTestFaults({ failUpload: 3 });
        const s = await engine.createSequence();
        const out = await engine.step([{ sequence: s, tokens: [3], strategy: "selection", adapters: one(2) }]);
        expect(out.results[0]!.error?.code).toBe("OUT_OF_MEMORY");
        expect(await held(engine)).toEqual(before);
        const resident = await Promise.all(ids.map(async (id) => (await engine.adapterInfo(id)).resident));
        expect(resident).toEqual([true, true, false]);
        expect(await logitsOf(engine, [4, 4, 7], one(0))).toEqual(before0);
        // Without the fault, adapter 2 loads as it would have, with its own bytes only.
        expect((await engine.step([{ sequence: s, tokens: [3], strategy: "selection", adapters: one(2) }])).results[0]!.ok).toBe(true);
        const fresh = await Engine.open(modelDir, { device });
        const id2 = await fresh.loadAdapter(adapterDirs[2]!);
        await logitsOf(fresh, [1], [{ adapter: id2, weight: 1 }]);
        expect((await engine.adapterInfo(ids[2]!)).residentBytes).toBe((await fresh.adapterInfo(id2)).residentBytes);
        await fresh.close();
      } finally {
        await engine.close();
      }
    });

    test("a fused adapter whose upload fails releases what it took; the sequence's next fusion step runs", async () => {
      const engine = await Engine.open(modelDir, { device, testFaults: true });
      const fresh = await Engine.open(modelDir, { device });
      try {
        const ids: number[] = [];
        const freshIds: number[] = [];
        for (const d of adapterDirs) ids.push(await engine.loadAdapter(d));
        for (const d of adapterDirs) freshIds.push(await fresh.loadAdapter(d));
        const s = await engine.createSequence();
        await engine.step([{ sequence: s, tokens: [1] }]); // the sequence's cache and the step buffers
        const before = await held(engine);
        await engine.setTestFaults({ failUpload: 2 });
        const fused = (list: number[]) => [
          { adapter: list[0]!, weight: 0.6 },
          { adapter: list[1]!, weight: 0.4 },
        ];
        const out = await engine.step([{ sequence: s, tokens: [6], strategy: "fusion-cat", adapters: fused(ids) }]);
        expect(out.results[0]!.error?.code).toBe("OUT_OF_MEMORY");
        expect(await held(engine)).toEqual(before);
        const again = await engine.step([{ sequence: s, tokens: [6], strategy: "fusion-cat", adapters: fused(ids) }], { logits: true });
        const f = await fresh.createSequence();
        await fresh.step([{ sequence: f, tokens: [1] }]);
        const want = await fresh.step([{ sequence: f, tokens: [6], strategy: "fusion-cat", adapters: fused(freshIds) }], { logits: true });
        expect(Array.from(again.logits!)).toEqual(Array.from(want.logits!));
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
