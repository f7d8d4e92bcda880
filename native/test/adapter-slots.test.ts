// Adapter residency: a bounded set of slots, LRU eviction over adapters the current step
// does not use, reloads that give the same results, and unloading, all while serving.
import path from "node:path";

import { Engine } from "@quiver/engine";

import { BACKENDS, describeOn } from "./backends.js";
import { tempDir } from "./cli.js";
import { SMALL, writeRandomAdapter, writeRandomModel } from "./fixtures.js";
import type { RefAdapter } from "./reference.js";
import { runScenario, type Pool } from "./scenario.js";

const root = tempDir("slots");
const modelDir = path.join(root, "model");
const model = writeRandomModel(modelDir, { ...SMALL, seed: 5 });
const refs: RefAdapter[] = [0, 1, 2, 3, 4].map((i) =>
  writeRandomAdapter(path.join(root, `a${i}`), model.config, { rank: 2 + i, alpha: 4 + i, modules: ["q", "v", "down"], seed: 40 + i }),
);

for (const device of BACKENDS)
  describeOn(device)(`adapter slots on ${device}`, () => {
    let engine: Engine;
    let seq = 0;
    const pool: Pool = { ids: [], refs };

    beforeAll(async () => {
      engine = await Engine.open(modelDir, { device, adapterSlots: 2 });
      for (let i = 0; i < refs.length; i++) pool.ids.push(await engine.loadAdapter(path.join(root, `a${i}`)));
      seq = await engine.createSequence();
    });
    afterAll(() => engine?.close());

    const use = (indexes: number[]) =>
      engine.step([{ sequence: seq, tokens: [3], strategy: "mixture", adapters: indexes.map((i) => ({ adapter: pool.ids[i]!, weight: 0.5 })) }]);
    const resident = async () => {
      const infos = await Promise.all(pool.ids.map((id) => engine.adapterInfo(id)));
      return infos.flatMap((info, i) => (info.resident ? [i] : []));
    };

    test("registered adapters take slots when a step uses them, least recently used first out", async () => {
      expect(await resident()).toEqual([]);
      expect((await use([0, 1])).results[0]!.ok).toBe(true);
      expect(await resident()).toEqual([0, 1]);
      await use([1]); // 1 is now more recent than 0
      expect((await use([2])).results[0]!.ok).toBe(true);
      expect(await resident()).toEqual([1, 2]);
      await use([1, 3]); // 2 goes, 1 stays: the step uses it
      expect(await resident()).toEqual([1, 3]);
    });

    test("a step that needs more adapters than slots fails only the item that does not fit", async () => {
      const other = await engine.createSequence();
      const out = await engine.step([
        { sequence: seq, tokens: [4], strategy: "mixture", adapters: [0, 4].map((i) => ({ adapter: pool.ids[i]!, weight: 0.5 })) },
        { sequence: other, tokens: [4], strategy: "selection", adapters: [{ adapter: pool.ids[2]!, weight: 1 }] },
      ]);
      expect(out.results[0]!.ok).toBe(true);
      expect(out.results[1]!.error?.code).toBe("NO_FREE_SLOT");
      await engine.freeSequence(other);
    });

    test("results stay exact across evictions and reloads", async () => {
      for (const [i, j] of [
        [0, 1],
        [2, 3],
        [4, 0],
        [1, 2],
        [3, 4],
        [0, 1],
      ] as const) {
        const r = await runScenario(
          engine,
          model,
          pool,
          [
            {
              mapping: [
                { index: i, weight: 0.7 },
                { index: j, weight: 0.3 },
              ],
              strategy: "mixture",
              promptLength: 4,
              decodeSteps: 2,
              joinAt: 0,
            },
          ],
          { seed: i * 5 + j },
        );
        expect(r.failures).toEqual([]);
      }
    });

    test("an unloaded adapter is forgotten; the others keep serving", async () => {
      await engine.unloadAdapter(pool.ids[4]!);
      await expect(engine.adapterInfo(pool.ids[4]!)).rejects.toMatchObject({ code: "NOT_FOUND" });
      expect((await use([4])).results[0]!.error?.code).toBe("NOT_FOUND");
      expect((await use([0])).results[0]!.ok).toBe(true);
      pool.ids[4] = await engine.loadAdapter(path.join(root, "a4"));
      expect((await use([4])).results[0]!.ok).toBe(true);
    });
  });

for (const device of BACKENDS)
  describeOn(device)(`reloads keep a mixture's bits on ${device}`, () => {
    test("a mixture's logits keep their bits while its adapters are evicted and reloaded elsewhere in memory", async () => {
      // A row's deltas add up in the adapters' registry order, not in the order of their
      // addresses, which reloads change.
      const engine = await Engine.open(modelDir, { device, adapterSlots: 2 });
      const ids: number[] = [];
      for (let i = 0; i < 5; i++) ids.push(await engine.loadAdapter(path.join(root, `a${i}`)));
      const weight = (adapter: number) => 0.3 + 0.1 * ids.indexOf(adapter);
      const run = async (indexes: number[], logits = false) => {
        const seq = await engine.createSequence();
        const out = await engine.step(
          [{ sequence: seq, tokens: [5, 9, 2, 7], strategy: "mixture", adapters: indexes.map((i) => ({ adapter: ids[i]!, weight: weight(ids[i]!) })) }],
          { logits },
        );
        expect(out.results[0]!.ok).toBe(true);
        await engine.freeSequence(seq);
        return Array.from(out.logits ?? []);
      };
      const first = await run([1, 3], true);
      // other adapters take the slots (and the memory x and y leave) in turn, then x and y
      // come back, in either order
      for (const others of [[0], [2, 4], [4], [0, 2], [3], [1], [2], [4, 0], [3, 2], [1, 4]]) {
        await run(others);
        expect(await run(others.length % 2 ? [1, 3] : [3, 1], true)).toEqual(first);
      }
      await engine.close();
    });
  });

// FUSION and FUSION-CAT read their adapters' host copies once, to build the sequence's fused
// adapter: they take no slots. The fused adapters themselves share a budget in bytes
// (maxFusedBytes, counted as f32 like maxAdapterBytes): a sequence whose fused adapter would
// pass it fails with NO_FREE_SLOT until others free theirs; one that could never fit, with
// SIZE_LIMIT.
for (const device of BACKENDS)
  describeOn(device)(`fused adapters on ${device}`, () => {
    const dirs = [0, 1, 2].map((i) => path.join(root, `a${i}`));
    const fuse = (ids: number[], strategy: "fusion" | "fusion-cat") => ({
      strategy,
      adapters: ids.map((adapter, j) => ({ adapter, weight: 0.5 + 0.1 * j })),
    });

    test("a fusion takes no slots: one slot serves a fusion of two adapters and a selection of a third in one step", async () => {
      const engine = await Engine.open(modelDir, { device, adapterSlots: 1 });
      const ids: number[] = [];
      for (const d of dirs) ids.push(await engine.loadAdapter(d));
      const [s, t] = [await engine.createSequence(), await engine.createSequence()];
      const out = await engine.step([
        { sequence: s, tokens: [3, 1], ...fuse([ids[0]!, ids[1]!], "fusion") },
        { sequence: t, tokens: [2], strategy: "selection", adapters: [{ adapter: ids[2]!, weight: 1 }] },
      ]);
      expect(out.results.map((r) => r.error?.code ?? "OK")).toEqual(["OK", "OK"]);
      expect(await Promise.all(ids.map(async (id) => (await engine.adapterInfo(id)).resident))).toEqual([false, false, true]);
      await engine.close();
    });

    test("the fused adapters of all sequences share maxFusedBytes: past it NO_FREE_SLOT, never within it SIZE_LIMIT", async () => {
      const probe = await Engine.open(modelDir, { device });
      const bytes: number[] = [];
      for (const d of dirs) bytes.push((await probe.adapterInfo(await probe.loadAdapter(d))).bytes);
      await probe.close();
      // Same modules in all three: a concatenation holds the sum of their bytes, an average the largest.
      const cat01 = bytes[0]! + bytes[1]!;
      const engine = await Engine.open(modelDir, { device, maxFusedBytes: cat01 + bytes[1]! });
      const ids: number[] = [];
      for (const d of dirs) ids.push(await engine.loadAdapter(d));
      const [s, t, u] = [await engine.createSequence(), await engine.createSequence(), await engine.createSequence()];
      const codes = async (items: Parameters<Engine["step"]>[0]) => (await engine.step(items)).results.map((r) => r.error?.code ?? "OK");

      // s: a concatenation of 0 and 1; t: the average of 0 and 1 (the larger one's bytes) fits
      // beside it; u: another concatenation does not, until s lets its go.
      expect(await codes([{ sequence: s, tokens: [1], ...fuse([ids[0]!, ids[1]!], "fusion-cat") }])).toEqual(["OK"]);
      expect(
        await codes([
          { sequence: t, tokens: [1], ...fuse([ids[0]!, ids[1]!], "fusion") },
          { sequence: u, tokens: [1], ...fuse([ids[1]!, ids[0]!], "fusion-cat") },
        ]),
      ).toEqual(["OK", "NO_FREE_SLOT"]);
      await engine.freeSequence(s);
      expect(await codes([{ sequence: u, tokens: [1], ...fuse([ids[1]!, ids[0]!], "fusion-cat") }])).toEqual(["OK"]);
      // A sequence that changes its mapping gives its old fused adapter back first.
      expect(await codes([{ sequence: u, tokens: [2], ...fuse([ids[0]!, ids[1]!], "fusion-cat") }])).toEqual(["OK"]);
      // A concatenation of all three could never fit.
      const big = await codes([{ sequence: t, tokens: [2], ...fuse(ids, "fusion-cat") }]);
      expect(big).toEqual(["SIZE_LIMIT"]);
      // Nothing was lost on the way: t's own fused adapter still serves it.
      expect(await codes([{ sequence: t, tokens: [3], ...fuse([ids[0]!, ids[1]!], "fusion") }])).toEqual(["OK"]);
      await engine.close();
    });
  });
