// Adapter loading beside the steps: loadAdapter reads (and, with prepare, lays out) the folder on
// the engine's loader thread while steps run on the engine thread; only the registration
// queues with them. A prepared adapter takes its slot without a copy and gives the same bits;
// a failed read rejects alone; nothing it placed outlives it; close waits for reads in flight.
import path from "node:path";

import { Engine } from "@quiver/engine";

import { BACKENDS, describeOn } from "./backends.js";
import { tempDir } from "./cli.js";
import { SMALL, writeRandomAdapter, writeRandomModel } from "./fixtures.js";

const root = tempDir("loading");
const modelDir = path.join(root, "model");
const model = writeRandomModel(modelDir, { ...SMALL, seed: 9 });
const small = path.join(root, "small");
writeRandomAdapter(small, model.config, { rank: 4, alpha: 8, modules: ["q", "v", "down"], seed: 3 });
// Large enough that reading it takes many steps' time, on every device (rank 4096 on every module: 64 MiB).
const large = path.join(root, "large");
writeRandomAdapter(large, model.config, { rank: 4096, alpha: 8, modules: ["q", "k", "v", "o", "gate", "up", "down"], seed: 4 });

for (const device of BACKENDS)
  describeOn(device)(`adapter loading on ${device}`, () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await Engine.open(modelDir, { device, maxRank: 4096, testFaults: true });
    });
    afterAll(() => engine?.close());

    const logits = async (adapter: number) => {
      const seq = await engine.createSequence();
      try {
        const out = await engine.step([{ sequence: seq, tokens: [1, 5, 9], strategy: "selection", adapters: [{ adapter, weight: 1 }] }], { logits: true });
        expect(out.results[0]!.ok).toBe(true);
        return Array.from(out.logits!);
      } finally {
        await engine.freeSequence(seq);
      }
    };

    test("steps run while a large adapter is read: they are not queued behind it", async () => {
      let loaded = false;
      const load = engine.loadAdapter(large, { prepare: true }).then((id) => {
        loaded = true;
        return id;
      });
      let seq = await engine.createSequence();
      let len = 0;
      let during = 0;
      while (!loaded) {
        if (len >= 60) {
          await engine.freeSequence(seq);
          seq = await engine.createSequence();
          len = 0;
        }
        await engine.step([{ sequence: seq, tokens: [2], strategy: "none" }]);
        len++;
        if (!loaded) during++;
      }
      await engine.freeSequence(seq);
      const id = await load;
      // A load that held the engine thread would let no step finish before it.
      expect(during).toBeGreaterThan(0);
      expect((await engine.adapterInfo(id)).resident).toBe(false);
      await engine.unloadAdapter(id);
    });

    test("a prepared adapter gives the bits an unprepared one gives, and takes its slot", async () => {
      const plain = await engine.loadAdapter(small);
      const prepared = await engine.loadAdapter(small, { prepare: true });
      expect(await logits(prepared)).toEqual(await logits(plain));
      expect((await engine.adapterInfo(prepared)).resident).toBe(true);
      await engine.unloadAdapter(plain);
      await engine.unloadAdapter(prepared);
    });

    test("a failed read rejects alone, and the engine serves on; prepared adapters leave nothing behind", async () => {
      const before = await engine.testState();
      await expect(engine.loadAdapter(path.join(root, "missing"), { prepare: true })).rejects.toMatchObject({ code: "FILE_MISSING" });
      // Unloaded before use, and after use (evicted or not): every allocation it made is released.
      const a = await engine.loadAdapter(small, { prepare: true });
      await engine.unloadAdapter(a);
      const b = await engine.loadAdapter(small, { prepare: true });
      await logits(b);
      await engine.unloadAdapter(b);
      const after = await engine.testState();
      expect({ n: after.liveAllocations, bytes: after.liveBytes }).toEqual({ n: before.liveAllocations, bytes: before.liveBytes });
    });

    test("close waits for a read in flight; later calls reject", async () => {
      const other = await Engine.open(modelDir, { device, maxRank: 4096 });
      const load = other.loadAdapter(large, { prepare: true });
      await other.close();
      await expect(load).resolves.toEqual(expect.any(Number));
      await expect(other.loadAdapter(small)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    });
  });
