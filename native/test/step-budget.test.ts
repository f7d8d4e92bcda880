// What one step may take is bounded by the engine itself: a token budget per forward pass
// (EngineOptions.maxStepTokens; longer prefills are chunked to fit, with the same results),
// and the device backend's step buffers sized to what the step needs (its LoRA scratch to the
// largest op, its attention scores to each row's own context). The test state of the
// engine's test hook (EngineOptions.testFaults) reports the passes and the buffers' sizes.
import path from "node:path";

import { Engine, type StepItem } from "@quiver/engine";

import { describeOn } from "./backends.js";
import { tempDir } from "./cli.js";
import { SMALL, writeRandomAdapter, writeRandomModel } from "./fixtures.js";

const root = tempDir("step-budget");
const modelDir = path.join(root, "model");
const model = writeRandomModel(modelDir, { ...SMALL, seed: 31 });
const all = ["q", "k", "v", "o", "gate", "up", "down"] as const;
const RANKS = [4, 6];
const adapterDirs = RANKS.map((rank, i) => {
  const dir = path.join(root, `a${i}`);
  writeRandomAdapter(dir, model.config, { rank, alpha: 8, modules: [...all], seed: 70 + i });
  return dir;
});

// On CUDA the tiled kernels (cublas "off"): cuBLAS picks its kernels by shape, so a chunked
// prefill may move logits by f32 rounding there (docs/engine.md, "Batch invariance").
for (const device of ["cpu-reference", "cpu", "cuda-emulated", "cuda"] as const)
  describeOn(device)(`the step's token budget on ${device}`, () => {
    const cublas = device === "cuda" ? "off" : undefined;
    test("no forward pass takes more than maxStepTokens tokens; prefills are chunked to fit, with the same bits", async () => {
      const budgeted = await Engine.open(modelDir, { device, cublas, maxStepTokens: 4, testFaults: true });
      const plain = await Engine.open(modelDir, { device, cublas });
      const run = async (engine: Engine) => {
        const ids = [await engine.loadAdapter(adapterDirs[0]!), await engine.loadAdapter(adapterDirs[1]!)];
        const seqs = [await engine.createSequence(), await engine.createSequence({ temperature: 1, seed: 3 }), await engine.createSequence()];
        const items: StepItem[] = [
          {
            sequence: seqs[0]!,
            tokens: [5, 9, 2, 7, 1, 3, 3, 8, 4, 6],
            strategy: "mixture",
            adapters: [
              { adapter: ids[0]!, weight: 0.7 },
              { adapter: ids[1]!, weight: 0.4 },
            ],
          },
          { sequence: seqs[1]!, tokens: [11, 12, 13], strategy: "selection", adapters: [{ adapter: ids[1]!, weight: 1 }] },
          {
            sequence: seqs[2]!,
            tokens: [40],
            strategy: "fusion",
            adapters: [
              { adapter: ids[0]!, weight: 0.5 },
              { adapter: ids[1]!, weight: 0.5 },
            ],
          },
        ];
        const first = await engine.step(items, { logits: true });
        const second = await engine.step(
          items.map((it, i) => ({ ...it, tokens: [first.results[i]!.token] })),
          { logits: true },
        );
        const gen = await engine.generate(await engine.createSequence(), [1, 17, 42, 5, 77, 3, 9, 9, 60], { maxTokens: 6, stopTokens: [], prefillChunk: 256 });
        return {
          tokens: [first, second].map((o) => o.results.map((r) => r.token)),
          logits: [Array.from(first.logits!), Array.from(second.logits!)],
          lengths: await Promise.all(seqs.map((s) => engine.sequenceLength(s))),
          gen: gen.tokens,
        };
      };
      const want = await run(plain);
      const got = await run(budgeted);
      expect(got).toEqual(want);
      expect(got.lengths).toEqual([11, 4, 2]);
      // The generation's last step was one decode token; the first step above took 14 tokens.
      const items = [{ sequence: await budgeted.createSequence(), tokens: [1, 2, 3, 4, 5, 6, 7, 8, 9] }];
      await budgeted.step(items);
      const state = await budgeted.testState();
      expect(state.stepPasses).toBe(3);
      expect(state.stepMaxRows).toBe(4);
      expect(budgeted.info.maxStepTokens).toBe(4);
      await budgeted.close();
      await plain.close();
    });

    test("a pass that fails after others finished fails only the items it had not finished; they keep no tokens", async () => {
      const engine = await Engine.open(modelDir, { device, cublas, maxStepTokens: 3, testFaults: true });
      const plain = await Engine.open(modelDir, { device, cublas });
      const prepare = async (e: Engine) => {
        const seqs = [];
        for (let i = 0; i < 4; i++) seqs.push(await e.createSequence());
        await e.step([{ sequence: seqs[0]!, tokens: [1, 2, 3] }]); // buffers for 3 rows of one sequence
        for (const s of seqs.slice(1)) await e.step([{ sequence: s, tokens: [4] }]);
        return seqs;
      };
      const seqs = await prepare(engine);
      const [c, a, b, d] = seqs;
      // Pass 1: c's 3 tokens; pass 2: a, b and d, whose logits buffers must grow, and fail.
      await engine.setTestFaults({ failAlloc: 0 });
      const out = await engine.step([
        { sequence: c!, tokens: [5, 6, 7] },
        { sequence: a!, tokens: [8] },
        { sequence: b!, tokens: [9] },
        { sequence: d!, tokens: [10] },
      ]);
      expect(out.results.map((r) => r.error?.code ?? "OK")).toEqual(["OK", "OUT_OF_MEMORY", "OUT_OF_MEMORY", "OUT_OF_MEMORY"]);
      expect(await Promise.all(seqs.map((s) => engine.sequenceLength(s)))).toEqual([6, 1, 1, 1]);
      // Run again, they give what an engine without the fault gives.
      const again = await engine.step(
        [
          { sequence: a!, tokens: [8] },
          { sequence: b!, tokens: [9] },
          { sequence: d!, tokens: [10] },
        ],
        { logits: true },
      );
      const ref = await prepare(plain);
      const want = await plain.step(
        [
          { sequence: ref[1]!, tokens: [8] },
          { sequence: ref[2]!, tokens: [9] },
          { sequence: ref[3]!, tokens: [10] },
        ],
        { logits: true },
      );
      expect(Array.from(again.logits!)).toEqual(Array.from(want.logits!));
      await engine.close();
      await plain.close();
    });

    test("maxStepTokens must be a count of tokens", async () => {
      await expect(Engine.open(modelDir, { device, maxStepTokens: -1 })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      const engine = await Engine.open(modelDir, { device });
      expect(engine.info.maxStepTokens).toBe(2048);
      await engine.close();
    });
  });

for (const device of ["cuda-emulated", "cuda"] as const)
  describeOn(device)(`the device backend's step buffers on ${device}`, () => {
    test("the LoRA scratch holds the largest op's entries, not the sum over every op", async () => {
      const engine = await Engine.open(modelDir, { device, testFaults: true });
      const ids = [await engine.loadAdapter(adapterDirs[0]!), await engine.loadAdapter(adapterDirs[1]!)];
      const [s, t] = [await engine.createSequence(), await engine.createSequence()];
      await engine.step([
        { sequence: s, tokens: [1, 2, 3, 4, 5], strategy: "mixture", adapters: ids.map((adapter) => ({ adapter, weight: 0.5 })) },
        { sequence: t, tokens: [6], strategy: "selection", adapters: [{ adapter: ids[0]!, weight: 1 }] },
      ]);
      // Every (layer, module) op has both adapters: 5 rows x (4 + 6) + 1 row x 4 floats.
      const perOp = 5 * (RANKS[0]! + RANKS[1]!) + RANKS[0]!;
      expect((await engine.testState()).loraScratchBytes).toBe(4 * perOp);
      await engine.close();
    });

    test("the attention scores hold each row's own context, not every row the step's longest", async () => {
      const engine = await Engine.open(modelDir, { device, testFaults: true });
      const long = await engine.createSequence();
      await engine.step([{ sequence: long, tokens: Array.from({ length: 30 }, (_, i) => (i * 7) % SMALL.vocab) }]);
      const shorts = await Promise.all(Array.from({ length: 7 }, () => engine.createSequence()));
      await engine.step([{ sequence: long, tokens: [3] }, ...shorts.map((sequence, i) => ({ sequence, tokens: [i + 1] }))]);
      // The long sequence's row sees 31 positions, each new one 1; per head.
      expect((await engine.testState()).scoreBytes).toBe(4 * SMALL.heads * (31 + 7));
      await engine.close();
    });
  });
