// Base model folders in every layout the engine reads: one file or shards with an index,
// F32 / F16 / BF16, tied or separate output head; each checked against the reference.
import path from "node:path";

import { Engine, type Dtype } from "@quiver/engine";

import { describeOn } from "./backends.js";
import { tempDir } from "./cli.js";
import { SMALL, writeRandomModel } from "./fixtures.js";
import { runScenario } from "./scenario.js";

const root = tempDir("formats");

// On the fast CPU path, and on CUDA when a GPU answers.
for (const device of ["cpu", "cuda-emulated", "cuda"] as const)
  describeOn(device)(`model layouts on ${device}`, () => {
    test.each([
      ["F32", 1, false],
      ["F16", 3, true],
      ["BF16", 2, false],
      ["BF16", 1, true],
    ] as [Dtype, number, boolean][])("%s weights in %i file(s), tied head %s", async (dtype, shards, tied) => {
      const dir = path.join(root, `${dtype}-${shards}-${tied}-${device}`);
      const model = writeRandomModel(dir, { ...SMALL, dtype, shards, tied, seed: 21 });
      const engine = await Engine.open(dir, { device });
      expect(engine.info.tiedEmbeddings).toBe(tied);
      expect(engine.info.numParameters).toBe(SMALL.vocab * SMALL.dim * (tied ? 1 : 2) + SMALL.layers * (2 * 48 + 48 * 48 * 2 + 2 * 24 * 48 + 3 * 76 * 48) + 48);
      const r = await runScenario(
        engine,
        model,
        { ids: [], refs: [] },
        [
          { mapping: [], strategy: "none", promptLength: 6, decodeSteps: 3, joinAt: 0 },
          { mapping: [], strategy: "none", promptLength: 3, splitPrefill: true, decodeSteps: 4, joinAt: 1 },
        ],
        { seed: 1 },
      );
      expect(r.failures).toEqual([]);
      await engine.close();
    });
  });
