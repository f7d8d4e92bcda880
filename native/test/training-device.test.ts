// The device trainer (train/device_trainer.h) against the CPU trainer, on each device: the
// "cuda-emulated" device runs the CUDA trainer's kernels on the host and always runs; the
// GPU runs them when one answers, else its suite is reported as skipped with the reason.
// Loss and every gradient against the f64 CPU trainer (full and LoRA modes, tied and
// separate heads, grouped-query attention, rsLoRA, a mixture weight), AdamW against the
// CPU trainer's f32 steps, bit-for-bit repeats and checkpoint resume, and refusals.
import path from "node:path";

import { Trainer, type TrainBatch, type TrainDevice, type TrainerOptions } from "@quiver/engine";

import { CUDA_AVAILABLE, describeOn, gemmVariants } from "./backends.js";
import { tempDir } from "./cli.js";
import { randomTrainBatch, rng, SMALL, trainAndServe, writeRandomModel, type ModelSpec } from "./fixtures.js";

const root = tempDir("training-device");
const SPEC: ModelSpec = { vocab: 13, dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, maxPos: 16, seed: 5 };
const separate = path.join(root, "separate");
const tied = path.join(root, "tied");
const small = path.join(root, "small");
writeRandomModel(separate, SPEC);
writeRandomModel(tied, { ...SPEC, tied: true, kvHeads: 2, seed: 6 });
writeRandomModel(small, { ...SMALL, maxPos: 32 });

const DEVICES: TrainDevice[] = ["cuda-emulated", "cuda"];

/** Gives every LoRA B random values (B starts at zero, which would zero A's gradients). */
function randomizeB(ts: Trainer[], seed: number): void {
  const r = rng(seed);
  for (const info of ts[0]!.tensors.filter((x) => x.name.endsWith("lora_B.weight"))) {
    const values = Float64Array.from({ length: info.numel }, () => 0.3 * r());
    for (const t of ts) t.write(info.name, values);
  }
}

/** Loss and every trainable gradient of `t` against the f64 CPU trainer `ref`, at f32 tolerance. */
async function expectSameGradients(t: Trainer, ref: Trainer, b: TrainBatch): Promise<number> {
  const [got, want] = [await t.backward(b), await ref.backward(b)];
  expect(got.targets).toBe(want.targets);
  expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * Math.max(1, want.loss));
  expect(Math.abs(got.gradNorm - want.gradNorm)).toBeLessThan(1e-4 * Math.max(1, want.gradNorm));
  let compared = 0;
  for (const info of ref.tensors.filter((x) => x.trainable)) {
    const g = t.read(info.name, "grad");
    const w = ref.read(info.name, "grad");
    for (let i = 0; i < w.length; i++) {
      const err = Math.abs(g[i]! - w[i]!);
      if (err >= 2e-5 + 1e-3 * Math.abs(w[i]!)) throw new Error(`${info.name}[${i}]: ${g[i]} against ${w[i]}`);
      compared++;
    }
  }
  return compared;
}

async function open(dir: string, o: TrainerOptions): Promise<Trainer> {
  return Trainer.open(dir, o);
}

for (const device of DEVICES)
  for (const gemm of gemmVariants(device)) {
    describeOn(device)(`training on ${device}${gemm.label}`, () => {
      test.each([
        ["separate head, grouped-query attention", separate],
        ["tied embeddings", tied],
      ])("full mode, %s: loss and every gradient agree with the f64 CPU trainer", async (_name, dir) => {
        const t = await open(dir, { mode: "full", device, cublas: gemm.cublas });
        const ref = await open(dir, { mode: "full", precision: 64 });
        expect(t.options.device).toBe(device);
        expect(t.deviceNote).toMatch(gemm.cublas === "emulate" ? /stand-in for cuBLAS/ : gemm.cublasCalls ? /^products on cuBLAS/ : /tiled GEMM/);
        const compared = await expectSameGradients(t, ref, randomTrainBatch(1, 3, 7, SPEC.vocab));
        expect(compared).toBe(ref.tensors.reduce((a, x) => a + x.numel, 0));
        t.close();
        ref.close();
      });

      test("LoRA mode: rsLoRA on a subset of projections, at a mixture weight; the base has no gradients", async () => {
        const o: TrainerOptions = { mode: "lora", rank: 3, alpha: 6, rslora: true, modules: ["q_proj", "v_proj", "o_proj", "up_proj", "down_proj"], seed: 4 };
        const t = await open(separate, { ...o, device, cublas: gemm.cublas });
        const ref = await open(separate, { ...o, precision: 64 });
        // the same seed gives the same initial A on every device
        for (const info of ref.tensors.filter((x) => x.name.endsWith("lora_A.weight")))
          expect(Array.from(t.read(info.name))).toEqual(Array.from(Float32Array.from(ref.read(info.name))));
        randomizeB([t, ref], 3);
        expect(() => t.read("model.layers.0.self_attn.q_proj.weight", "grad")).toThrow(/frozen/);
        const compared = await expectSameGradients(t, ref, { ...randomTrainBatch(2, 2, 9, SPEC.vocab), loraWeight: 0.4 });
        const trainable = ref.tensors.filter((x) => x.trainable);
        expect(trainable).toHaveLength(2 * 5 * SPEC.layers);
        expect(compared).toBe(trainable.reduce((a, x) => a + x.numel, 0));
        t.close();
        ref.close();
      });

      test("AdamW from a random start follows the CPU trainer's f32 steps and memorises a batch", async () => {
        const data = randomTrainBatch(10, 4, 16, SMALL.vocab);
        const o: TrainerOptions = { mode: "full", initRandom: true, seed: 42, weightDecay: 0.01 };
        const t = await open(small, { ...o, device, cublas: gemm.cublas });
        const cpu = await open(small, o);
        // 16 steps take the loss from 4.6 to 0.16; past that, memorising at this rate amplifies
        // rounding (the CPU's own f32 and f64 runs part by 1% at step 36)
        const losses: number[] = [];
        for (let s = 0; s < 16; s++) {
          const [got, want] = [(await t.step(data, 1e-2)).loss, (await cpu.step(data, 1e-2)).loss];
          expect(Math.abs(got - want)).toBeLessThan(2e-5 * want);
          losses.push(got);
        }
        expect(losses[15]!).toBeLessThan(losses[0]! * 0.1);
        for (const name of ["model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight", "model.norm.weight"]) {
          const w = t.read(name);
          const wc = cpu.read(name);
          for (let i = 0; i < w.length; i++) expect(Math.abs(w[i]! - wc[i]!)).toBeLessThan(1e-4);
          for (const part of ["adam-m", "adam-v"] as const) {
            const m = t.read(name, part);
            const mc = cpu.read(name, part);
            for (let i = 0; i < m.length; i++) expect(Math.abs(m[i]! - mc[i]!)).toBeLessThan(1e-5 + 1e-2 * Math.abs(mc[i]!));
          }
        }
        t.close();
        cpu.close();
      });

      test("two runs repeat bit for bit, whatever the thread count; a checkpoint resumes bit for bit", async () => {
        const data = randomTrainBatch(11, 4, 16, SMALL.vocab);
        const o: TrainerOptions = { mode: "full", initRandom: true, seed: 7, weightDecay: 0.01, device, cublas: gemm.cublas };
        const run = async (threads: number, steps: number, t?: Trainer) => {
          t ??= await open(small, { ...o, threads });
          const losses: number[] = [];
          for (let s = 0; s < steps; s++) losses.push((await t.step(data, 1e-2)).loss);
          return { t, losses };
        };
        const a = await run(1, 6);
        const b = await run(2, 6);
        expect(b.losses).toEqual(a.losses);
        for (const info of a.t.tensors) expect(b.t.read(info.name)).toEqual(a.t.read(info.name));
        const half = await run(2, 3);
        const file = path.join(root, `${device}${gemm.cublas ?? ""}.ckpt.safetensors`);
        half.t.saveCheckpoint(file, 3);
        half.t.close();
        const resumed = await open(small, { ...o, seed: 999 });
        expect(resumed.loadCheckpoint(file).step).toBe(3);
        const rest = await run(2, 3, resumed);
        expect([...half.losses, ...rest.losses]).toEqual(a.losses);
        for (const info of a.t.tensors) expect(resumed.read(info.name)).toEqual(a.t.read(info.name));
        for (const t of [a.t, b.t, resumed]) t.close();
      });

      test("an adapter trained here is served by the engine with the trainer's loss", async () => {
        const t = await open(separate, { mode: "lora", rank: 4, alpha: 8, seed: 1, device, cublas: gemm.cublas });
        const r = await trainAndServe(t, separate, path.join(root, `adapter-${device}${gemm.cublas ?? ""}`));
        expect(r.last).toBeLessThan(r.first * 0.5);
        expect(Math.abs(r.engineLoss - r.trainerLoss)).toBeLessThan(1e-4);
      });

      test("bad batches are refused before any work, and the trainer keeps working", async () => {
        const t = await open(separate, { mode: "full", device, cublas: gemm.cublas });
        const ok = randomTrainBatch(5, 1, 4, SPEC.vocab);
        await expect(t.step({ ...ok, tokens: Int32Array.from([1, 2, 99, 3]) }, 1e-3)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
        await expect(t.step({ ...ok, targets: Int32Array.from([-1, -1, -1, -1]) }, 1e-3)).rejects.toThrow(/no target/);
        await expect(t.step(randomTrainBatch(5, 1, 20, SPEC.vocab), 1e-3)).rejects.toMatchObject({ code: "CONTEXT_OVERFLOW" });
        await expect(t.step(ok, Number.NaN)).rejects.toThrow(/learning rate/);
        expect(() =>
          t.write(
            "model.norm.weight",
            Float64Array.from({ length: SPEC.dim }, () => Number.NaN),
          ),
        ).toThrow(/not finite/);
        expect((await t.step(ok, 1e-3)).step).toBe(1);
        t.close();
      });
    });
  }

describe("training devices: choosing one", () => {
  test("precision 64 runs on the CPU only; an unknown device is refused", async () => {
    await expect(open(separate, { mode: "full", precision: 64, device: "cuda-emulated" })).rejects.toThrow(/CPU trainer only/);
    await expect(open(separate, { mode: "full", device: "tpu" as never })).rejects.toThrow(/device must be one of/);
  });

  test("cuda without a GPU is a DEVICE error with the reason; auto falls back to the CPU and says why", async () => {
    const auto = await open(separate, { mode: "full", device: "auto" });
    if (CUDA_AVAILABLE) {
      expect(auto.options.device).toBe("cuda");
      expect(auto.deviceNote).toMatch(/^products on /);
    } else {
      await expect(open(separate, { mode: "full", device: "cuda" })).rejects.toMatchObject({
        code: "DEVICE",
        message: expect.stringMatching(/no GPU|no CUDA trainer/),
      });
      expect(auto.options.device).toBe("cpu");
      expect(auto.deviceNote).toMatch(/CUDA unavailable .*training on the CPU/);
    }
    auto.close();
  });
});
