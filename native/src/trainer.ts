// Training in the native engine (train/trainer.h): full training of a base model and
// LoRA-only training of adapters, with AdamW and gradient clipping, on the CPU or (device
// "cuda") on the GPU. This face validates
// options, runs one call at a time, and writes results in the formats the engine serves:
// a Hugging Face folder for a base model, a PEFT folder for an adapter, and checkpoints
// (weights plus optimizer state) that resume bit for bit.
import { copyFileSync, existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

import { loadBinding, type NativeTrainer, type NativeTensorInfo, type NativeTrainStats } from "./binding.js";
import { check, EngineError, toEngineError } from "./errors.js";
import { readSafetensorsFile, writeSafetensors, type TensorToWrite } from "./safetensors.js";
import { PROJECTIONS, type Projection } from "./synthetic.js";

export type TrainMode = "full" | "lora";
/** cpu: the CPU trainer (the reference); cuda: the device trainer on the GPU; cuda-emulated:
 * the device trainer's kernels run on the host, one element at a time (for tests); auto:
 * cuda when a GPU answers, else cpu. */
export type TrainDevice = "auto" | "cpu" | "cuda" | "cuda-emulated";
export const TRAIN_DEVICES: readonly TrainDevice[] = ["auto", "cpu", "cuda", "cuda-emulated"];
const NATIVE_DEVICES = { cpu: 0, cuda: 1, "cuda-emulated": 2 } as const;
export type TensorPart = "value" | "grad" | "adam-m" | "adam-v";
const PARTS: Record<TensorPart, number> = { value: 0, grad: 1, "adam-m": 2, "adam-v": 3 };

export const MAX_TRAIN_RANK = 256;

export interface TrainerOptions {
  mode: TrainMode;
  /** full mode: start from random weights drawn from the seed (config.json is enough). */
  initRandom?: boolean;
  /** LoRA (defaults: rank 8, alpha 16, all seven projections). */
  rank?: number;
  alpha?: number;
  rslora?: boolean;
  modules?: readonly Projection[];
  seed?: number;
  /** CPU threads (0 = all); results do not depend on it. */
  threads?: number;
  /** 64 for gradient checks; 32 (default) for training. */
  precision?: 32 | 64;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global gradient-norm limit (default 1; 0 = off). */
  clip?: number;
  /** Where the passes run (default cpu). Precision 64 runs on the CPU only. */
  device?: TrainDevice;
  /** The CUDA devices' products, as EngineOptions.cublas (engine.ts). */
  cublas?: string;
}

export type TrainStats = NativeTrainStats;
export type TensorInfo = NativeTensorInfo;

/** A batch: `tokens` and `targets` (the next token, or -1 for no loss), each batch x seqLen. */
export interface TrainBatch {
  tokens: Int32Array;
  targets: Int32Array;
  batch: number;
  seqLen: number;
  /** LoRA: the weight every delta gets in this batch, as in a mixture of adapters (default 1). */
  loraWeight?: number;
}

const CHECKPOINT_FORMAT = "quiver-checkpoint/1";

export class Trainer {
  private constructor(
    private readonly native: NativeTrainer,
    readonly modelDir: string,
    readonly options: Required<Omit<TrainerOptions, "initRandom" | "device">> & { initRandom: boolean; device: Exclude<TrainDevice, "auto"> },
    readonly tensors: readonly TensorInfo[],
    /** Why device "auto" runs on the CPU, when it does; on the CUDA devices, what runs the products. */
    readonly deviceNote?: string,
  ) {}

  static async open(modelDir: string, options: TrainerOptions): Promise<Trainer> {
    check(options.mode === "full" || options.mode === "lora", `mode must be "full" or "lora"`);
    const o = {
      mode: options.mode,
      initRandom: options.initRandom ?? false,
      rank: options.rank ?? 8,
      alpha: options.alpha ?? 16,
      rslora: options.rslora ?? false,
      modules: options.modules ?? PROJECTIONS,
      seed: options.seed ?? 0,
      threads: options.threads ?? 0,
      precision: options.precision ?? 32,
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.999,
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 0,
      clip: options.clip ?? 1,
      device: options.device ?? "cpu",
      cublas: options.cublas ?? "",
    };
    check(TRAIN_DEVICES.includes(o.device), `device must be one of ${TRAIN_DEVICES.join(", ")}`);
    let deviceNote: string | undefined;
    let device: Exclude<TrainDevice, "auto">;
    if (o.device === "auto") {
      const cuda = loadBinding().cudaStatus("");
      device = cuda.available ? "cuda" : "cpu";
      if (!cuda.available) deviceNote = `CUDA unavailable (${cuda.reason}); training on the CPU`;
    } else {
      device = o.device;
    }
    check(Number.isInteger(o.rank) && o.rank >= 1 && o.rank <= MAX_TRAIN_RANK, `rank must be an integer in 1..${MAX_TRAIN_RANK}`);
    check(Number.isSafeInteger(o.seed) && o.seed >= 0, "seed must be a non-negative integer");
    check(o.modules.length > 0 && o.modules.every((m) => PROJECTIONS.includes(m)), `modules must be among ${PROJECTIONS.join(", ")}`);
    check(o.precision === 32 || o.precision === 64, "precision must be 32 or 64");
    if (!existsSync(path.join(modelDir, "config.json"))) throw new EngineError("FILE_MISSING", `${modelDir}/config.json does not exist`);
    const modules = o.modules.reduce((bits, m) => bits | (1 << PROJECTIONS.indexOf(m)), 0);
    let native: NativeTrainer;
    try {
      native = await loadBinding().openTrainer({ ...o, modelDir, mode: o.mode === "lora" ? 1 : 0, modules, device: NATIVE_DEVICES[device] });
    } catch (err) {
      throw toEngineError(err);
    }
    const note = native.deviceNote();
    if (note) deviceNote = deviceNote ? `${deviceNote}; ${note}` : note;
    return new Trainer(native, modelDir, { ...o, device }, native.tensors(), deviceNote);
  }

  /** Index of the tensor named `name`. */
  index(name: string): number {
    const i = this.tensors.findIndex((t) => t.name === name);
    if (i < 0) throw new EngineError("NOT_FOUND", `no tensor ${name}`);
    return i;
  }

  read(name: string, part: TensorPart = "value"): Float64Array {
    try {
      return this.native.read(this.index(name), PARTS[part]);
    } catch (err) {
      throw toEngineError(err);
    }
  }

  write(name: string, data: Float64Array, part: TensorPart = "value"): void {
    try {
      this.native.write(this.index(name), PARTS[part], data);
    } catch (err) {
      throw toEngineError(err);
    }
  }

  private async call(p: () => Promise<NativeTrainStats>): Promise<TrainStats> {
    try {
      return await p();
    } catch (err) {
      throw toEngineError(err);
    }
  }

  /** Mean cross-entropy over the batch's targets, without gradients. */
  loss(b: TrainBatch): Promise<TrainStats> {
    return this.call(() => this.native.loss(b.tokens, b.targets, b.batch, b.seqLen, b.loraWeight ?? 1));
  }

  /** Forward and backward: read the gradients with read(name, "grad"). */
  backward(b: TrainBatch): Promise<TrainStats> {
    return this.call(() => this.native.backward(b.tokens, b.targets, b.batch, b.seqLen, b.loraWeight ?? 1));
  }

  /** One AdamW step at learning rate `lr` (after clipping). */
  step(b: TrainBatch, lr: number): Promise<TrainStats> {
    return this.call(() => this.native.step(b.tokens, b.targets, b.batch, b.seqLen, lr, b.loraWeight ?? 1));
  }

  close(): void {
    this.native.close();
  }

  private trainable(): TensorInfo[] {
    return this.tensors.filter((t) => t.trainable);
  }

  /** Writes weights and AdamW state (f32) and the step count; resume with loadCheckpoint. */
  saveCheckpoint(file: string, step: number, extra: Record<string, string> = {}): void {
    const tensors: TensorToWrite[] = [];
    for (const t of this.trainable())
      for (const part of ["value", "adam-m", "adam-v"] as const)
        tensors.push({ name: part === "value" ? t.name : `${t.name}.${part}`, dtype: "F32", shape: t.shape, data: Float32Array.from(this.read(t.name, part)) });
    const tmp = `${file}.tmp`;
    writeSafetensors(tmp, tensors, { format: CHECKPOINT_FORMAT, step: String(step), mode: this.options.mode, ...extra });
    renameSync(tmp, file);
  }

  /** Restores what saveCheckpoint wrote; returns the step count and the metadata. */
  loadCheckpoint(file: string): { step: number; metadata: Record<string, string> } {
    if (!existsSync(file)) throw new EngineError("FILE_MISSING", `${file} does not exist`);
    const { tensors, metadata } = readSafetensorsFile(file);
    if (metadata.format !== CHECKPOINT_FORMAT || metadata.mode !== this.options.mode)
      throw new EngineError("FILE_CORRUPT", `${file} is not a ${this.options.mode} checkpoint of this trainer`);
    for (const t of this.trainable())
      for (const part of ["value", "adam-m", "adam-v"] as const) {
        const got = tensors.get(part === "value" ? t.name : `${t.name}.${part}`);
        if (!got || got.data.length !== t.numel) throw new EngineError("SHAPE_MISMATCH", `${file}: ${t.name} (${part}) is missing or has another shape`);
        this.write(t.name, Float64Array.from(got.data), part);
      }
    const step = Number(metadata.step);
    this.native.setStep(step);
    return { step, metadata };
  }

  /** Writes the LoRA tensors as a PEFT folder (adapter_config.json + adapter_model.safetensors). */
  saveAdapter(dir: string, meta: { baseModel: string; extra?: Record<string, unknown> }): void {
    check(this.options.mode === "lora", "saveAdapter needs a LoRA trainer");
    mkdirSync(dir, { recursive: true });
    const tensors: TensorToWrite[] = this.trainable().map((t) => ({ name: t.name, dtype: "F32", shape: t.shape, data: Float32Array.from(this.read(t.name)) }));
    writeSafetensors(path.join(dir, "adapter_model.safetensors"), tensors, { format: "pt" });
    const config = {
      peft_type: "LORA",
      task_type: "CAUSAL_LM",
      base_model_name_or_path: meta.baseModel,
      r: this.options.rank,
      lora_alpha: this.options.alpha,
      use_rslora: this.options.rslora,
      lora_dropout: 0,
      bias: "none",
      fan_in_fan_out: false,
      target_modules: [...this.options.modules],
      ...meta.extra,
    };
    writeFileSync(path.join(dir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
  }

  /** Writes the weights as a Hugging Face folder: config.json and the tokenizer files from the
   * source folder, model.safetensors (f32) from the trainer. */
  saveModel(dir: string): void {
    check(this.options.mode === "full", "saveModel needs a full trainer");
    mkdirSync(dir, { recursive: true });
    const tensors: TensorToWrite[] = this.tensors.map((t) => ({ name: t.name, dtype: "F32", shape: t.shape, data: Float32Array.from(this.read(t.name)) }));
    writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"])
      if (existsSync(path.join(this.modelDir, f)) && path.resolve(this.modelDir) !== path.resolve(dir))
        copyFileSync(path.join(this.modelDir, f), path.join(dir, f));
  }
}
