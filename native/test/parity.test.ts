// The engine against the TypeScript reference (reference.ts) on a random small model and a
// pool of random adapters of different ranks, modules, dtypes and scalings: every backend,
// every strategy, odd batch sizes, mixed prefill and decode, adapter popularity distinct /
// identical / Zipf. Tolerance: |engine - reference| <= 2e-4 + 1e-4 |reference| (scenario.ts).
import path from "node:path";

import { Engine, type Strategy } from "@quiver/engine";

import { BACKENDS, describeOn, gemmVariants } from "./backends.js";
import { tempDir } from "./cli.js";
import { SMALL, writeRandomAdapter, writeRandomModel, type AdapterSpec } from "./fixtures.js";
import type { RefAdapter, RefModel } from "./reference.js";
import { drawMappings, runScenario, type Pool, type SampleSpec } from "./scenario.js";

const POOL: AdapterSpec[] = [
  { rank: 4, alpha: 8, modules: ["q", "k", "v", "o", "gate", "up", "down"], seed: 11 },
  { rank: 8, alpha: 16, modules: ["q", "v"], seed: 12 },
  { rank: 2, alpha: 4, rslora: true, modules: ["gate", "up", "down"], seed: 13 },
  { rank: 6, alpha: 6, modules: ["q", "k", "v", "o", "gate", "up", "down"], dtype: "BF16", seed: 14 },
  { rank: 16, alpha: 32, modules: ["o", "down"], layers: [1], seed: 15 },
  { rank: 3, alpha: 5, modules: ["q", "k", "o"], dtype: "F16", seed: 16 },
  { rank: 5, alpha: 10, rslora: true, modules: ["q", "k", "v", "o", "gate", "up", "down"], seed: 17 },
  { rank: 1, alpha: 2, modules: ["up"], seed: 18 },
  // Ranks that fill the fast path's shrink panels (8 rows of A each, taken in pairs) unevenly.
  { rank: 12, alpha: 24, modules: ["k", "gate", "down"], seed: 19 },
  { rank: 24, alpha: 24, rslora: true, modules: ["q", "o", "up"], seed: 20 },
];

const root = tempDir("parity");
const modelDir = path.join(root, "model");
const model: RefModel = writeRandomModel(modelDir, { ...SMALL, dtype: "F32" });
const refs: RefAdapter[] = POOL.map((spec, i) => writeRandomAdapter(path.join(root, `adapter-${i}`), model.config, spec));

/** Samples with staggered joins, some split prefills, odd count. */
function samplesFor(strategy: Strategy, mappings: number[][], weights: number[]): SampleSpec[] {
  return mappings.map((idx, s) => ({
    mapping: idx.map((index, j) => ({ index, weight: weights[j % weights.length]! })),
    strategy,
    promptLength: 2 + ((s * 5) % 9),
    splitPrefill: s % 3 === 1,
    decodeSteps: 2 + (s % 3),
    joinAt: s % 4,
  }));
}

for (const device of BACKENDS)
  for (const gemm of gemmVariants(device))
    describeOn(device)(`parity with the reference on ${device}${gemm.label}`, () => {
      let engine: Engine;
      const pool: Pool = { ids: [], refs };

      beforeAll(async () => {
        engine = await Engine.open(modelDir, { device, cublas: gemm.cublas, adapterSlots: 16 });
        for (let i = 0; i < POOL.length; i++) pool.ids.push(await engine.loadAdapter(path.join(root, `adapter-${i}`)));
      });
      afterAll(() => engine?.close());

      test("the engine says what runs its products", () => {
        if (device === "cuda-emulated" || device === "cuda") {
          expect(engine.info.kernels).toBe(gemm.cublasCalls ? `${device}+cublas` : device);
          expect(engine.info.deviceNote).toMatch(/^products on /);
        } else {
          expect(engine.info.deviceNote ?? "").toBe("");
        }
      });

      test("base model: odd batch sizes, mixed prefill and decode", async () => {
        for (const n of [1, 3, 7]) {
          const r = await runScenario(
            engine,
            model,
            pool,
            samplesFor(
              "none",
              Array.from({ length: n }, () => []),
              [1],
            ),
            { seed: n },
          );
          expect(r.failures).toEqual([]);
          expect(r.rows).toBeGreaterThanOrEqual(n * 3);
        }
      });

      const strategies: Strategy[] = ["mixture", "fusion", "fusion-cat", "selection"];
      const popularity = ["distinct", "identical", "zipf"] as const;
      test.each(strategies.flatMap((s) => popularity.map((p) => [s, p] as const)))("%s with %s adapters", async (strategy, pop) => {
        const mappings = drawMappings(pop, 7, 3, POOL.length, 5);
        const r = await runScenario(engine, model, pool, samplesFor(strategy, mappings, [0.5, 0.3, 0.2]), { seed: 7 });
        expect(r.failures).toEqual([]);
      });

      test("one batch mixes every strategy and samples without adapters", async () => {
        const order: Strategy[] = ["mixture", "none", "fusion", "selection", "fusion-cat", "mixture", "none", "fusion", "selection"];
        const mappings = drawMappings("zipf", order.length, 3, POOL.length, 9);
        const samples = order.map((strategy, s) => ({ ...samplesFor(strategy, [mappings[s]!], [0.6, 0.25, 0.15])[0]!, joinAt: s % 3 }));
        const r = await runScenario(engine, model, pool, samples, { seed: 3 });
        expect(r.failures).toEqual([]);
      });

      test("the paper's dense formulation gives the gather path's results", async () => {
        const mappings = drawMappings("zipf", 5, 3, POOL.length, 21);
        const r = await runScenario(engine, model, pool, samplesFor("mixture", mappings, [0.4, 0.4, 0.2]), { seed: 4, kernel: "dense" });
        expect(r.failures).toEqual([]);
      });

      test("adapters change the output (so the comparisons above can fail)", async () => {
        const mapping = [[0, 3, 6]];
        const spec = (strategy: Strategy) => samplesFor(strategy, mapping, [0.4, 0.3, 0.3]).map((s) => ({ ...s, joinAt: 0 }));
        const base = await runScenario(engine, model, pool, spec("none"), { seed: 2 });
        const mixed = await runScenario(engine, model, pool, spec("mixture"), { seed: 2 });
        const last = base.logits[0]!.length - 1;
        let diff = 0;
        base.logits[0]![last]!.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - mixed.logits[0]![last]![i]!))));
        expect(diff).toBeGreaterThan(0.05);
      });
    });

for (const device of BACKENDS)
  for (const gemm of gemmVariants(device))
    describeOn(device)(`batch invariance on ${device}${gemm.label}`, () => {
      // Zipf: a mix of shared and own adapters. Identical: 12 samples on the same 3 adapters, so
      // that the crowd's decode steps take the fast CPU path's chunked expand (many rows per
      // adapter) and the lone sample's its adapter-by-adapter expand (cpu_fast.cpp).
      test.each([
        ["zipf", 6],
        ["identical", 12],
      ] as const)(
        `a sample's logits are the same ${gemm.batchInvariantBits ? "bits" : "within f32 rounding"} alone and among other samples (%s adapters, %i samples)`,
        async (popularity, n) => {
          const engine = await Engine.open(modelDir, { device, cublas: gemm.cublas });
          const pool: Pool = { ids: [], refs };
          for (let i = 0; i < POOL.length; i++) pool.ids.push(await engine.loadAdapter(path.join(root, `adapter-${i}`)));
          const mappings = drawMappings(popularity, n, 3, POOL.length, 33);
          const all = samplesFor("mixture", mappings, [0.5, 0.3, 0.2]).map((s) => ({ ...s, joinAt: 0 }));
          const alone = await runScenario(engine, model, pool, all.slice(0, 1), { seed: 8 });
          const crowd = await runScenario(engine, model, pool, all, { seed: 8 });
          expect(alone.failures).toEqual([]);
          expect(crowd.failures).toEqual([]);
          expect(crowd.logits[0]!.length).toBe(alone.logits[0]!.length);
          crowd.logits[0]!.forEach((l, step) => {
            const want = alone.logits[0]![step]!;
            if (gemm.batchInvariantBits) expect(Array.from(l)).toEqual(Array.from(want));
            // cuBLAS picks its kernels by shape, so a batch can change the summation order
            else l.forEach((x, i) => expect(Math.abs(x - want[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(want[i]!))));
          });
          await engine.close();
        },
      );
    });

describe("16-bit lanes", () => {
  test("on the CUDA device's code, adapters saved in bf16 or f16 take half the memory (their logits: the parity suites)", async () => {
    const engine = await Engine.open(modelDir, { device: "cuda-emulated", adapterSlots: 16 });
    for (let i = 0; i < POOL.length; i++) {
      const id = await engine.loadAdapter(path.join(root, `adapter-${i}`));
      await engine.step([{ sequence: await engine.createSequence(), tokens: [1, 2], strategy: "selection", adapters: [{ adapter: id, weight: 1 }] }]);
      const info = await engine.adapterInfo(id);
      if (POOL[i]!.dtype === "BF16" || POOL[i]!.dtype === "F16") {
        expect(info.residentBytes).toBeGreaterThanOrEqual(info.bytes / 2);
        expect(info.residentBytes).toBeLessThanOrEqual(info.bytes / 2 + 4 * 2 * 7 * SMALL.layers);
      } else {
        expect(info.residentBytes).toBe(info.bytes);
      }
    }
    await engine.close();
  });

  test("on the fast CPU path, adapters saved in bf16 or f16 take half the slot memory of f32 lanes (their logits: the parity suites)", async () => {
    const resident = async (cpuGeneric: boolean) => {
      const engine = await Engine.open(modelDir, { device: "cpu", cpuGeneric, adapterSlots: 16 });
      const bytes: number[] = [];
      for (let i = 0; i < POOL.length; i++) {
        const id = await engine.loadAdapter(path.join(root, `adapter-${i}`));
        await engine.step([{ sequence: await engine.createSequence(), tokens: [1, 2], strategy: "selection", adapters: [{ adapter: id, weight: 1 }] }]);
        bytes.push((await engine.adapterInfo(id)).residentBytes);
      }
      const kernels = engine.info.kernels;
      await engine.close();
      return { bytes, kernels };
    };
    const f32 = await resident(true);
    const fast = await resident(false);
    if (fast.kernels !== "avx2") {
      console.log("16-bit lanes not checked: the AVX2 kernels do not run here");
      return;
    }
    POOL.forEach((spec, i) => expect(fast.bytes[i]).toBe(spec.dtype === "BF16" || spec.dtype === "F16" ? f32.bytes[i]! / 2 : f32.bytes[i]));
  });
});

describe("the portable CPU kernels against the reference", () => {
  test("mixture and fusion with Zipf adapters, mixed prefill and decode", async () => {
    const engine = await Engine.open(modelDir, { device: "cpu", cpuGeneric: true });
    expect(engine.info.kernels).toBe("generic");
    const pool: Pool = { ids: [], refs };
    for (let i = 0; i < POOL.length; i++) pool.ids.push(await engine.loadAdapter(path.join(root, `adapter-${i}`)));
    for (const strategy of ["mixture", "fusion"] as Strategy[]) {
      const r = await runScenario(engine, model, pool, samplesFor(strategy, drawMappings("zipf", 5, 3, POOL.length, 12), [0.5, 0.3, 0.2]), { seed: 6 });
      expect(r.failures).toEqual([]);
    }
    await engine.close();
  });
});
