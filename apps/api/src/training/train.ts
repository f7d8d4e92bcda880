// Training with the native engine's trainer: reading and checking JSONL examples, turning
// them into token batches (loss on the answer, or on everything for a base model), the
// loop with warm-up and cosine decay, and LoRA adapters written as PEFT folders. Every
// check runs before the trainer opens, so bad input never starts (or half-writes) a run.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";

import { PROJECTIONS, TextTokenizer, TRAIN_DEVICES, Trainer, type Projection, type TrainBatch, type TrainDevice, type TrainStats } from "@quiver/engine";

import { QuiverError } from "../errors.js";
import { Rng } from "../retriever/head/rng.js";

export interface Example {
  input: string;
  answer: string;
}

/** Sizes the API and CLI accept. */
export const LIMITS = { rank: [1, 64], steps: [1, 100_000], batchSize: [1, 512], examples: 1_000_000, fileBytes: 256 * 1024 * 1024 } as const;

function bad(message: string, hint?: string): QuiverError {
  return new QuiverError("BAD_USER_INPUT", message, hint ? { hint } : {});
}

/** Parses JSONL text: one {"input": ..., "answer": ...} object per line; blank lines skipped. */
export function parseExamples(text: string, source = "the data"): Example[] {
  const out: Example[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch (err) {
      throw bad(
        `${source}, line ${i + 1}: not valid JSON (${(err as Error).message})`,
        'Each line must be one JSON object: {"input": "...", "answer": "..."}.',
      );
    }
    if (!o || typeof o !== "object" || Array.isArray(o)) throw bad(`${source}, line ${i + 1}: expected a JSON object`);
    const { input, answer } = o as Record<string, unknown>;
    if (typeof input !== "string" || !input.trim()) throw bad(`${source}, line ${i + 1}: "input" must be a non-empty string`);
    if (typeof answer !== "string" || !answer.trim())
      throw bad(`${source}, line ${i + 1}: "answer" is missing or empty`, "Every example needs the answer the adapter should learn.");
    out.push({ input, answer });
    if (out.length > LIMITS.examples) throw bad(`${source}: more than ${LIMITS.examples} examples`);
  }
  if (out.length === 0) throw bad(`${source} holds no examples`, 'Write one JSON object per line: {"input": "...", "answer": "..."}.');
  return out;
}

export function readExamples(file: string): Example[] {
  if (!existsSync(file)) throw bad(`${file} does not exist`);
  const st = statSync(file);
  if (!st.isFile()) throw bad(`${file} is not a file`);
  if (st.size === 0) throw bad(`${file} is empty`, 'Write one JSON object per line: {"input": "...", "answer": "..."}.');
  if (st.size > LIMITS.fileBytes) throw bad(`${file} is larger than ${LIMITS.fileBytes} bytes`);
  return parseExamples(readFileSync(file, "utf8"), file);
}

/** An example as tokens: BOS, the prompt in the model's template, the answer, EOS. */
export interface Encoded {
  ids: number[];
  /** Index in ids of the answer's first token. */
  answerStart: number;
}

export interface ModelTokens {
  tokenizer: TextTokenizer;
  bos: number;
  eos: number;
  maxContext: number;
  vocab: number;
}

/** Reads what training needs from a model folder (config.json and tokenizer.json). */
export function modelTokens(modelDir: string): ModelTokens {
  const configFile = path.join(modelDir, "config.json");
  if (!existsSync(configFile)) throw bad(`${modelDir} is not a model folder (no config.json)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw bad(`${configFile}: ${(err as Error).message}`);
  }
  let tokenizer: TextTokenizer;
  try {
    tokenizer = TextTokenizer.load(modelDir);
  } catch (err) {
    throw bad(`${modelDir}: ${(err as Error).message}`, "Training needs the model's tokenizer.json.");
  }
  const eos = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  const { bos_token_id: bos, max_position_embeddings: maxContext, vocab_size: vocab } = config;
  if (typeof bos !== "number" || typeof eos !== "number" || typeof maxContext !== "number" || typeof vocab !== "number")
    throw bad(`${configFile} needs bos_token_id, eos_token_id, max_position_embeddings and vocab_size`);
  return { tokenizer, bos, eos, maxContext, vocab };
}

/** Tokenises every example; a line that does not fit the context is an error that names it. */
export function encodeExamples(m: ModelTokens, examples: readonly Example[], source = "the data"): Encoded[] {
  return examples.map((ex, i) => {
    const prompt = m.tokenizer.encodePrompt(ex.input);
    const answer = m.tokenizer.encode(ex.answer);
    const ids = [m.bos, ...prompt, ...answer, m.eos];
    if (ids.length > m.maxContext) throw bad(`${source}, example ${i + 1}: ${ids.length} tokens, more than the model's context of ${m.maxContext}`);
    if (ids.some((t) => t < 0 || t >= m.vocab)) throw bad(`${source}, example ${i + 1}: a token falls outside the model's vocabulary`);
    return { ids, answerStart: 1 + prompt.length };
  });
}

/** Batches in a seeded order (epochs of shuffled examples), padded to the longest row rounded up to 8. */
export function* batches(
  data: readonly Encoded[],
  batchSize: number,
  seed: number,
  lossOn: "answer" | "all",
  pad: number,
  /** LoRA: each batch's delta weight, uniform in [min, max] (default always 1). */
  weightRange: readonly [number, number] = [1, 1],
): Generator<TrainBatch> {
  const r = new Rng(seed);
  const w = new Rng(seed ^ 0x5bd1e995);
  let order: number[] = [];
  for (;;) {
    const rows: Encoded[] = [];
    while (rows.length < batchSize) {
      if (order.length === 0) order = r.shuffle(data.map((_, i) => i));
      rows.push(data[order.pop()!]!);
    }
    const longest = Math.max(...rows.map((e) => e.ids.length - 1));
    const seqLen = Math.ceil(longest / 8) * 8;
    const tokens = new Int32Array(rows.length * seqLen).fill(pad);
    const targets = new Int32Array(rows.length * seqLen).fill(-1);
    rows.forEach((e, b) => {
      for (let p = 0; p + 1 < e.ids.length; p++) {
        tokens[b * seqLen + p] = e.ids[p]!;
        if (lossOn === "all" || p + 1 >= e.answerStart) targets[b * seqLen + p] = e.ids[p + 1]!;
      }
    });
    const loraWeight = weightRange[0] === weightRange[1] ? weightRange[0] : weightRange[0] + (weightRange[1] - weightRange[0]) * w.next();
    yield { tokens, targets, batch: rows.length, seqLen, loraWeight };
  }
}

export interface LoopOptions {
  steps: number;
  lr: number;
  /** Steps of linear warm-up (default 5% of steps); then cosine decay to 10% of lr. */
  warmup?: number;
  onProgress?: (p: { step: number; steps: number; loss: number; lr: number; seconds: number }) => void;
  /** How often onProgress is called (default every 25 steps and the last). */
  every?: number;
}

export function learningRate(step: number, o: { steps: number; lr: number; warmup?: number }): number {
  const warmup = o.warmup ?? Math.max(1, Math.round(o.steps * 0.05));
  if (step < warmup) return (o.lr * (step + 1)) / warmup;
  const t = (step - warmup) / Math.max(1, o.steps - warmup);
  return o.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** Runs `steps` AdamW steps over `source`; returns the loss of every step. */
export async function trainLoop(trainer: Trainer, source: Iterator<TrainBatch>, o: LoopOptions): Promise<number[]> {
  const t0 = performance.now();
  const losses: number[] = [];
  const every = o.every ?? 25;
  for (let step = 0; step < o.steps; step++) {
    const lr = learningRate(step, o);
    const s: TrainStats = await trainer.step(source.next().value as TrainBatch, lr);
    losses.push(s.loss);
    if (o.onProgress && ((step + 1) % every === 0 || step + 1 === o.steps))
      o.onProgress({ step: step + 1, steps: o.steps, loss: s.loss, lr, seconds: (performance.now() - t0) / 1000 });
  }
  return losses;
}

export interface LoraTrainOptions {
  modelDir: string;
  examples: readonly Example[];
  out: string;
  rank?: number;
  alpha?: number;
  steps?: number;
  batchSize?: number;
  lr?: number;
  /** LoRA initialisation (A); also the data order unless dataSeed is given. */
  seed?: number;
  /** The order of the examples (default: seed). */
  dataSeed?: number;
  threads?: number;
  /** Where training runs (default auto: CUDA when a GPU answers, else the CPU). */
  device?: TrainDevice;
  modules?: readonly Projection[];
  /** Train each batch with the adapter at a weight drawn from [min, max] (default [1, 1]),
   * as mixtures of k adapters weigh each 1/k: the adapter then keeps working when mixed. */
  weightRange?: readonly [number, number];
  /** Replace an existing adapter folder at `out`. */
  force?: boolean;
  /** Extra adapter_config.json members. */
  extra?: Record<string, unknown>;
  source?: string;
  onProgress?: LoopOptions["onProgress"];
  /** Notes such as the device training runs on. */
  log?: (line: string) => void;
}

export interface LoraTrainResult {
  out: string;
  steps: number;
  firstLoss: number;
  finalLoss: number;
  seconds: number;
  /** The device training ran on. */
  device: Exclude<TrainDevice, "auto">;
}

export function checkRange(name: string, v: number, [lo, hi]: readonly [number, number]): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw bad(`${name} must be an integer from ${lo} to ${hi}, not ${v}`);
}

/** Checks everything, trains a LoRA adapter, and writes it as a PEFT folder at `out` (atomically). */
export async function trainLoraAdapter(o: LoraTrainOptions): Promise<LoraTrainResult> {
  const rank = o.rank ?? 8;
  const steps = o.steps ?? 300;
  const batchSize = o.batchSize ?? 16;
  const lr = o.lr ?? 2e-3;
  const alpha = o.alpha ?? 2 * rank;
  const seed = o.seed ?? 0;
  checkRange("rank", rank, LIMITS.rank);
  checkRange("steps", steps, LIMITS.steps);
  checkRange("batch size", batchSize, LIMITS.batchSize);
  checkRange("seed", seed, [0, 2 ** 31 - 1]);
  if (o.dataSeed !== undefined) checkRange("data seed", o.dataSeed, [0, 2 ** 31 - 1]);
  if (!(lr > 0 && lr < 1)) throw bad(`the learning rate must be between 0 and 1, not ${lr}`);
  if (!(alpha > 0 && Number.isFinite(alpha))) throw bad(`alpha must be a positive number, not ${alpha}`);
  const weightRange = o.weightRange ?? [1, 1];
  if (!(weightRange[0] > 0 && weightRange[0] <= weightRange[1] && weightRange[1] <= 1))
    throw bad(`the weight range must satisfy 0 < min <= max <= 1, not ${weightRange.join(", ")}`);
  const device = o.device ?? "auto";
  if (!TRAIN_DEVICES.includes(device)) throw bad(`unknown device ${device}; choose from ${TRAIN_DEVICES.join(", ")}`);
  const modules = o.modules ?? PROJECTIONS;
  for (const m of modules) if (!PROJECTIONS.includes(m)) throw bad(`unknown module ${m}; choose from ${PROJECTIONS.join(", ")}`);
  if (existsSync(o.out) && !o.force && (!statSync(o.out).isDirectory() || readdirSync(o.out).length > 0))
    throw bad(`${o.out} already exists`, "Choose a new --out folder, or pass --force to replace it.");
  const tokens = modelTokens(o.modelDir);
  const data = encodeExamples(tokens, o.examples, o.source);

  const t0 = performance.now();
  const trainer = await Trainer.open(o.modelDir, { mode: "lora", rank, alpha, seed, threads: o.threads ?? 0, modules, clip: 1, device });
  o.log?.(`training on ${trainer.options.device}${trainer.deviceNote ? ` (${trainer.deviceNote})` : ""}`);
  try {
    const losses = await trainLoop(trainer, batches(data, batchSize, o.dataSeed ?? seed, "answer", tokens.eos, weightRange), {
      steps,
      lr,
      onProgress: o.onProgress,
    });
    const tmp = `${o.out}.partial-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
    trainer.saveAdapter(tmp, {
      baseModel: path.basename(path.resolve(o.modelDir)),
      extra: {
        quiver: {
          steps,
          batch_size: batchSize,
          learning_rate: lr,
          seed,
          data_seed: o.dataSeed ?? seed,
          weight_range: weightRange,
          examples: o.examples.length,
          final_loss: losses[losses.length - 1],
        },
        ...o.extra,
      },
    });
    rmSync(o.out, { recursive: true, force: true });
    renameSync(tmp, o.out);
    return {
      out: o.out,
      steps,
      firstLoss: losses[0]!,
      finalLoss: losses[losses.length - 1]!,
      seconds: (performance.now() - t0) / 1000,
      device: trainer.options.device,
    };
  } finally {
    trainer.close();
  }
}
