// `quiver train zoo`: the model zoo from nothing but a seed. It draws the task suite
// (suite.ts), writes a character-level Llama config and tokenizer, trains the base model
// from random weights on generic copying text, trains one LoRA adapter per task, trains the
// retriever head on the tasks' sample inputs, and writes the manifest. The zoo is built in a sibling folder and swapped in at the end, so a failed
// or interrupted run leaves the previous zoo as it was.
import { cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

import { TRAIN_DEVICES, Trainer, writeCharTokenizer, type TrainDevice } from "@quiver/engine";

import { QuiverError } from "../errors.js";
import { loadBaseEncoder } from "../retriever/encoder-factory.js";
import { saveHead } from "../retriever/head/head-encoder.js";
import { DEFAULT_HEAD_CONFIG, encodeTaskSamples, trainHead } from "../retriever/head/train-head.js";
import { batches, checkRange, encodeExamples, modelTokens, trainLoop, trainLoraAdapter, type Example } from "../training/train.js";
import { ZOO_FORMAT, readZooManifest, type ZooManifest, type ZooTask } from "./manifest.js";
import { CLUSTERS, TASKS, drawTask, mulberry32, pretrainItem } from "./suite.js";

/** The base model: about 0.8M parameters, one token per character. */
export const ZOO_ARCHITECTURE = { dim: 128, hidden: 352, layers: 4, heads: 4, kvHeads: 2, maxPos: 128 } as const;

export const ZOO_DEFAULTS = {
  seed: 7,
  baseSteps: 2000,
  baseBatch: 32,
  baseLr: 3e-3,
  pretrainExamples: 40_000,
  adapterSteps: 300,
  adapterBatch: 16,
  adapterLr: 3e-3,
  rank: 8,
  alpha: 16,
  /** Adapters train at delta weights from 1/3 (a mixture of the paper's k = 3) to 1. */
  weightRange: [1 / 3, 1] as readonly [number, number],
  trainExamples: 3000,
  validation: 10,
  test: 20,
  samples: 20,
  /** The retriever head's folder in the zoo. */
  retrieverHead: "retriever-head",
} as const;

export interface ZooTrainOptions {
  out: string;
  seed?: number;
  baseSteps?: number;
  adapterSteps?: number;
  threads?: number;
  /** Where training runs (default cpu: the committed zoo is the CPU trainer's bits; CUDA's
   * differ in the last bits, so a zoo trained there is its own reproducible zoo). */
  device?: TrainDevice;
  /** Reuse this zoo's base model (and the other tasks' adapters) instead of training them. */
  reuseBase?: string;
  /** Train only these tasks' adapters (with reuseBase). */
  only?: readonly string[];
  log?: (line: string) => void;
}

export interface ZooTrainReport {
  out: string;
  seed: number;
  parameters: number;
  baseSeconds: number;
  adapterSeconds: number;
  /** Training the retriever head, encoding the samples included. */
  headSeconds: number;
  totalSeconds: number;
  baseLoss: { first: number; final: number } | null;
  adapters: { task: string; seconds: number; firstLoss: number; finalLoss: number }[];
  machine: string;
  /** The device asked for (auto resolves per trainer, as the log says). */
  device: TrainDevice;
}

function configJson(vocab: number): Record<string, unknown> {
  const a = ZOO_ARCHITECTURE;
  return {
    _name_or_path: "quiver-zoo-char", architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: a.dim,
    intermediate_size: a.hidden, num_hidden_layers: a.layers, num_attention_heads: a.heads, num_key_value_heads: a.kvHeads,
    vocab_size: vocab, max_position_embeddings: a.maxPos, rms_norm_eps: 1e-5, rope_theta: 10000, hidden_act: "silu",
    tie_word_embeddings: true, bos_token_id: 1, eos_token_id: 2, torch_dtype: "float32",
  };
}

/** Parameters of the base model (tied embeddings over the 99-token vocabulary). */
export function zooParameters(vocab = 99): number {
  const a = ZOO_ARCHITECTURE;
  const kv = (a.dim / a.heads) * a.kvHeads;
  return vocab * a.dim + a.dim + a.layers * (2 * a.dim + 2 * a.dim * a.dim + 2 * a.dim * kv + 3 * a.dim * a.hidden);
}

/**
 * The zoo's retriever head (LoraRetriever's trained retriever, ../shared/docs/paper.md section
 * 1): the default head settings (docs/retriever.md), trained with InfoNCE on the tasks' sample
 * inputs under the default encoder, never on held-out items. Seeded: the same samples give the
 * same head. Returns the seconds it took.
 */
export async function trainZooRetrieverHead(dir: string, tasks: readonly Pick<ZooTask, "name" | "samples">[], log: (line: string) => void = () => {}): Promise<number> {
  const t0 = performance.now();
  const encoder = await loadBaseEncoder({ spec: "use-lite" });
  try {
    const head = trainHead(await encodeTaskSamples(encoder, tasks), DEFAULT_HEAD_CONFIG);
    saveHead(dir, head, encoder.identity);
    const first = head.history[0]!, last = head.history.at(-1)!;
    log(
      `retriever head: ${tasks.length} tasks' samples on ${encoder.identity}, loss ${first.loss.toFixed(3)} -> ${last.loss.toFixed(3)}, ` +
        `own task nearest ${(100 * first.accuracy).toFixed(1)}% -> ${(100 * last.accuracy).toFixed(1)}%`,
    );
  } finally {
    await encoder.close();
  }
  return (performance.now() - t0) / 1000;
}

export async function trainZoo(o: ZooTrainOptions): Promise<ZooTrainReport> {
  const seed = o.seed ?? ZOO_DEFAULTS.seed;
  const baseSteps = o.baseSteps ?? ZOO_DEFAULTS.baseSteps;
  const adapterSteps = o.adapterSteps ?? ZOO_DEFAULTS.adapterSteps;
  const log = o.log ?? (() => {});
  const device = o.device ?? "cpu";
  if (!TRAIN_DEVICES.includes(device)) throw new QuiverError("BAD_USER_INPUT", `unknown device ${device}; choose from ${TRAIN_DEVICES.join(", ")}`);
  checkRange("seed", seed, [0, 2 ** 31 - 1]);
  checkRange("base steps", baseSteps, [1, 1_000_000]);
  checkRange("adapter steps", adapterSteps, [1, 100_000]);
  const known = new Set(TASKS.map((t) => t.name));
  for (const t of o.only ?? []) if (!known.has(t)) throw new QuiverError("BAD_USER_INPUT", `unknown task ${t}`, { hint: `Tasks: ${[...known].join(", ")}` });
  if (o.only && !o.reuseBase) throw new QuiverError("BAD_USER_INPUT", "--only needs --reuse-base (the other adapters come from that zoo)");
  let reused: ZooManifest | undefined;
  if (o.reuseBase) {
    reused = readZooManifest(o.reuseBase);
    if (reused.seed !== seed) throw new QuiverError("BAD_USER_INPUT", `the zoo at ${o.reuseBase} was made with seed ${reused.seed}, not ${seed}`);
  }

  const t0 = performance.now();
  const out = path.resolve(o.out);
  const work = `${out}.building`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(path.join(work, "adapters"), { recursive: true });
  const modelDir = path.join(work, "model");

  // The suite: every task's items from its own seed.
  const splits = TASKS.map((t, i) => drawTask(t, seed * 1000 + i, { train: ZOO_DEFAULTS.trainExamples, validation: ZOO_DEFAULTS.validation, test: ZOO_DEFAULTS.test, samples: ZOO_DEFAULTS.samples }));

  // The base model.
  let baseSeconds = 0;
  let baseLoss: ZooTrainReport["baseLoss"] = null;
  if (reused) {
    cpSync(path.join(o.reuseBase!, reused.model), modelDir, { recursive: true });
    log(`base model: reused from ${o.reuseBase}`);
  } else {
    mkdirSync(modelDir, { recursive: true });
    const vocab = writeCharTokenizer(modelDir, { promptTemplate: "{prompt}\n" });
    writeFileSync(path.join(modelDir, "config.json"), JSON.stringify(configJson(vocab), null, 2) + "\n");
    const r = mulberry32(seed);
    const pre: Example[] = Array.from({ length: ZOO_DEFAULTS.pretrainExamples }, () => pretrainItem(r));
    const tokens = modelTokens(modelDir);
    const data = encodeExamples(tokens, pre, "pretraining text");
    const tb = performance.now();
    const trainer = await Trainer.open(modelDir, { mode: "full", initRandom: true, seed, threads: o.threads ?? 0, weightDecay: 0.01, clip: 1, device });
    try {
      log(`base model: training on ${trainer.options.device}${trainer.deviceNote ? ` (${trainer.deviceNote})` : ""}`);
      log(`base model: ${trainer.tensors.reduce((a, t) => a + t.numel, 0)} parameters, ${baseSteps} steps of ${ZOO_DEFAULTS.baseBatch}`);
      const losses = await trainLoop(trainer, batches(data, ZOO_DEFAULTS.baseBatch, seed, "all", tokens.eos), {
        steps: baseSteps, lr: ZOO_DEFAULTS.baseLr, every: 100,
        onProgress: (p) => log(`  base step ${p.step}/${p.steps} loss ${p.loss.toFixed(4)} (${p.seconds.toFixed(0)} s)`),
      });
      trainer.saveModel(modelDir);
      baseLoss = { first: losses[0]!, final: losses[losses.length - 1]! };
    } finally {
      trainer.close();
    }
    baseSeconds = (performance.now() - tb) / 1000;
  }

  // One adapter per task.
  const ta = performance.now();
  const adapters: ZooTrainReport["adapters"] = [];
  for (const [i, task] of TASKS.entries()) {
    const dest = path.join(work, "adapters", task.name);
    if (reused && o.only && !o.only.includes(task.name)) {
      const prev = reused.tasks.find((t) => t.name === task.name);
      if (!prev) throw new QuiverError("BAD_USER_INPUT", `the zoo at ${o.reuseBase} has no adapter for ${task.name}`);
      cpSync(path.join(o.reuseBase!, prev.adapter), dest, { recursive: true });
      continue;
    }
    const r = await trainLoraAdapter({
      modelDir, examples: splits[i]!.train, out: dest, rank: ZOO_DEFAULTS.rank, alpha: ZOO_DEFAULTS.alpha, steps: adapterSteps,
      batchSize: ZOO_DEFAULTS.adapterBatch, lr: ZOO_DEFAULTS.adapterLr,
      // One LoRA initialisation for every adapter (as a fixed training seed gives in
      // practice), each task its own data order: adapters of one skill then change the
      // base in aligned directions, which is what lets output-space mixtures add up.
      seed, dataSeed: (seed * 1000 + i) % 2 ** 31, weightRange: ZOO_DEFAULTS.weightRange, threads: o.threads ?? 0, device, source: task.name,
      extra: { quiver_task: task.name, quiver_cluster: task.cluster },
    });
    adapters.push({ task: task.name, seconds: r.seconds, firstLoss: r.firstLoss, finalLoss: r.finalLoss });
    log(`adapter ${i + 1}/${TASKS.length} ${task.name}: loss ${r.firstLoss.toFixed(3)} -> ${r.finalLoss.toFixed(4)} in ${r.seconds.toFixed(1)} s`);
  }
  const adapterSeconds = (performance.now() - ta) / 1000;

  const tasks: ZooTask[] = TASKS.map((t, i) => ({
    name: t.name, cluster: t.cluster, description: t.description, adapter: `adapters/${t.name}`,
    samples: splits[i]!.samples, validation: splits[i]!.validation, test: splits[i]!.test,
  }));
  const headSeconds = await trainZooRetrieverHead(path.join(work, ZOO_DEFAULTS.retrieverHead), tasks, log);
  const manifest: ZooManifest = {
    format: ZOO_FORMAT, seed, model: "model",
    clusters: CLUSTERS.map((c) => ({ ...c, tasks: TASKS.filter((t) => t.cluster === c.name).map((t) => t.name) })),
    tasks,
    retrieverHead: ZOO_DEFAULTS.retrieverHead,
  };
  writeFileSync(path.join(work, "tasks.json"), JSON.stringify(manifest, null, 1) + "\n");
  const report: ZooTrainReport = {
    out, seed, parameters: zooParameters(), baseSeconds, adapterSeconds, headSeconds, totalSeconds: (performance.now() - t0) / 1000, baseLoss, adapters,
    machine: `${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}`,
    device,
  };
  writeFileSync(path.join(work, "training.json"), JSON.stringify({ ...report, out: undefined }, null, 1) + "\n");

  const old = `${out}.old`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(out)) renameSync(out, old);
  renameSync(work, out);
  rmSync(old, { recursive: true, force: true });
  return report;
}
