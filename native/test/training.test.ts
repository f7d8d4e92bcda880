// Training in the native engine: analytic gradients against central finite differences in
// f64 (full and LoRA modes, tied and separate heads, grouped-query attention), the f32 path
// against the f64 one, AdamW reducing the loss, bit-for-bit reproducibility (thread counts
// and checkpoint resume), a trained adapter served by the engine with the trainer's own
// numbers, and bad options.
import path from "node:path";

import { PROJECTIONS, Trainer, type TrainBatch } from "@quiver/engine";

import { tempDir } from "./cli.js";
import { randomTrainBatch as randomBatch, rng, trainAndServe, writeRandomModel, type ModelSpec } from "./fixtures.js";

const root = tempDir("training");
const SPEC: ModelSpec = { vocab: 13, dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, maxPos: 16, seed: 5 };
const separate = path.join(root, "separate");
const tied = path.join(root, "tied");
writeRandomModel(separate, SPEC);
writeRandomModel(tied, { ...SPEC, tied: true, kvHeads: 2, seed: 6 });

/** Worst relative error over a few entries of every trainable tensor, central differences. */
async function gradCheck(t: Trainer, b: TrainBatch, perTensor = 3): Promise<{ worst: number; checked: number }> {
  await t.backward(b);
  const r = rng(77);
  let worst = 0;
  let checked = 0;
  for (const info of t.tensors.filter((x) => x.trainable)) {
    const grad = t.read(info.name, "grad");
    const w = t.read(info.name);
    for (let k = 0; k < perTensor; k++) {
      const i = Math.floor(((r() + 1) / 2) * info.numel);
      const h = 1e-5;
      const orig = w[i]!;
      w[i] = orig + h;
      t.write(info.name, w);
      const plus = (await t.loss(b)).loss;
      w[i] = orig - h;
      t.write(info.name, w);
      const minus = (await t.loss(b)).loss;
      w[i] = orig;
      t.write(info.name, w);
      const numeric = (plus - minus) / (2 * h);
      const err = Math.abs(numeric - grad[i]!) / Math.max(1e-6, Math.abs(numeric) + Math.abs(grad[i]!));
      worst = Math.max(worst, err);
      checked++;
    }
  }
  return { worst, checked };
}

describe("training: gradients", () => {
  test.each([
    ["separate head, grouped-query attention", separate],
    ["tied embeddings", tied],
  ])("full mode, %s: analytic gradients match finite differences", async (_name, dir) => {
    const t = await Trainer.open(dir, { mode: "full", precision: 64, threads: 2 });
    const { worst, checked } = await gradCheck(t, randomBatch(1, 3, 7, SPEC.vocab));
    t.close();
    expect(checked).toBeGreaterThan(40);
    expect(worst).toBeLessThan(1e-5);
  });

  test("LoRA mode: gradients of A and B on every projection match finite differences; the base has none", async () => {
    const t = await Trainer.open(separate, { mode: "lora", precision: 64, rank: 3, alpha: 6, seed: 4 });
    // B starts at zero, which would make every gradient of A zero: give B values first
    const r = rng(3);
    for (const info of t.tensors.filter((x) => x.name.endsWith("lora_B.weight")))
      t.write(
        info.name,
        Float64Array.from({ length: info.numel }, () => 0.3 * r()),
      );
    expect(t.tensors.filter((x) => x.trainable)).toHaveLength(2 * PROJECTIONS.length * SPEC.layers);
    expect(() => t.read("model.layers.0.self_attn.q_proj.weight", "grad")).toThrow(/frozen/);
    const { worst } = await gradCheck(t, randomBatch(2, 2, 9, SPEC.vocab), 4);
    // the same at a mixture weight, as adapters train for mixing
    const { worst: weighted } = await gradCheck(t, { ...randomBatch(6, 2, 7, SPEC.vocab), loraWeight: 0.4 }, 2);
    const full = (await t.loss({ ...randomBatch(6, 2, 7, SPEC.vocab), loraWeight: 1 })).loss;
    const scaled = (await t.loss({ ...randomBatch(6, 2, 7, SPEC.vocab), loraWeight: 0.4 })).loss;
    t.close();
    expect(worst).toBeLessThan(1e-5);
    expect(weighted).toBeLessThan(1e-5);
    expect(scaled).not.toBe(full);
  });

  test("rsLoRA scaling and a subset of projections", async () => {
    const t = await Trainer.open(separate, { mode: "lora", precision: 64, rank: 4, alpha: 2, rslora: true, modules: ["v_proj", "down_proj"], seed: 8 });
    expect(t.tensors.filter((x) => x.trainable).map((x) => x.name.split(".").slice(-3).join("."))).toEqual([
      "v_proj.lora_A.weight",
      "v_proj.lora_B.weight",
      "down_proj.lora_A.weight",
      "down_proj.lora_B.weight",
      "v_proj.lora_A.weight",
      "v_proj.lora_B.weight",
      "down_proj.lora_A.weight",
      "down_proj.lora_B.weight",
    ]);
    const r = rng(9);
    for (const info of t.tensors.filter((x) => x.name.endsWith("lora_B.weight")))
      t.write(
        info.name,
        Float64Array.from({ length: info.numel }, () => 0.3 * r()),
      );
    const { worst } = await gradCheck(t, randomBatch(3, 2, 6, SPEC.vocab), 5);
    t.close();
    expect(worst).toBeLessThan(1e-5);
  });

  test("the f32 path (fast kernels) agrees with the f64 one", async () => {
    const b = randomBatch(4, 4, 11, SPEC.vocab);
    const t64 = await Trainer.open(separate, { mode: "full", precision: 64 });
    const t32 = await Trainer.open(separate, { mode: "full", precision: 32 });
    const [l64, l32] = [await t64.backward(b), await t32.backward(b)];
    expect(Math.abs(l64.loss - l32.loss)).toBeLessThan(1e-5);
    for (const info of t64.tensors) {
      const g64 = t64.read(info.name, "grad");
      const g32 = t32.read(info.name, "grad");
      for (let i = 0; i < g64.length; i++) expect(Math.abs(g64[i]! - g32[i]!)).toBeLessThan(2e-5 + 1e-3 * Math.abs(g64[i]!));
    }
    t64.close();
    t32.close();
  });
});

describe("training: optimisation and reproducibility", () => {
  const data = randomBatch(10, 4, 12, SPEC.vocab);

  async function run(opts: { threads: number }, steps: number, dir = separate) {
    const t = await Trainer.open(dir, { mode: "full", initRandom: true, seed: 42, threads: opts.threads, weightDecay: 0.01 });
    const losses: number[] = [];
    for (let s = 0; s < steps; s++) losses.push((await t.step(data, 3e-2)).loss);
    return { t, losses };
  }

  test("AdamW from a random start memorises a batch; 1 and 2 threads give the same bits", async () => {
    const a = await run({ threads: 1 }, 60);
    const b = await run({ threads: 2 }, 60);
    expect(a.losses[59]!).toBeLessThan(a.losses[0]! * 0.25);
    expect(b.losses).toEqual(a.losses);
    for (const info of a.t.tensors) expect(b.t.read(info.name)).toEqual(a.t.read(info.name));
    a.t.close();
    b.t.close();
  });

  test("a checkpoint resumes bit for bit", async () => {
    const straight = await run({ threads: 2 }, 8);
    const half = await run({ threads: 2 }, 4);
    const file = path.join(root, "ckpt.safetensors");
    half.t.saveCheckpoint(file, 4);
    half.t.close();
    const resumed = await Trainer.open(separate, { mode: "full", initRandom: true, seed: 999, threads: 2, weightDecay: 0.01 });
    expect(resumed.loadCheckpoint(file).step).toBe(4);
    const losses = [...half.losses];
    for (let s = 4; s < 8; s++) losses.push((await resumed.step(data, 3e-2)).loss);
    expect(losses).toEqual(straight.losses);
    for (const info of straight.t.tensors) expect(resumed.read(info.name)).toEqual(straight.t.read(info.name));
    straight.t.close();
    resumed.close();
  });

  test("a trained LoRA adapter, written as PEFT, is served by the engine with the trainer's loss", async () => {
    const t = await Trainer.open(separate, { mode: "lora", rank: 4, alpha: 8, seed: 1 });
    const r = await trainAndServe(t, separate, path.join(root, "adapter"));
    expect(r.last).toBeLessThan(r.first * 0.5);
    expect(Math.abs(r.engineLoss - r.trainerLoss)).toBeLessThan(1e-4);
  });
});

describe("training: bad input", () => {
  test.each([
    [{ mode: "lora", rank: 0 }, /rank/],
    [{ mode: "lora", rank: 300 }, /rank/],
    [{ mode: "lora", modules: [] }, /modules/],
    [{ mode: "lora", initRandom: true }, /random/],
    [{ mode: "nope" }, /mode/],
  ] as const)("options %j are refused", async (opts, re) => {
    await expect(Trainer.open(separate, opts as never)).rejects.toThrow(re);
  });

  test("a missing model folder, and batches the model cannot take", async () => {
    await expect(Trainer.open(path.join(root, "absent"), { mode: "full" })).rejects.toMatchObject({ code: "FILE_MISSING" });
    const t = await Trainer.open(separate, { mode: "full" });
    const ok = randomBatch(5, 1, 4, SPEC.vocab);
    await expect(t.step({ ...ok, tokens: Int32Array.from([1, 2, 99, 3]) }, 1e-3)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(t.step({ ...ok, targets: Int32Array.from([-1, -1, -1, -1]) }, 1e-3)).rejects.toThrow(/no target/);
    const long = randomBatch(5, 1, 20, SPEC.vocab);
    await expect(t.step(long, 1e-3)).rejects.toMatchObject({ code: "CONTEXT_OVERFLOW" });
    await expect(t.step(ok, Number.NaN)).rejects.toThrow(/learning rate/);
    await expect(t.step({ ...ok, loraWeight: -1 }, 1e-3)).rejects.toThrow(/lora weight/);
    // the trainer still works after refusing
    expect((await t.step(ok, 1e-3)).step).toBe(1);
    t.close();
  });
});
