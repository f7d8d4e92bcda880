// Small seeded fixtures for the engine tests: random Llama models and PEFT adapters written
// by the engine package's synthetic writers as real folders, then read back from the files
// into the reference's structures (so F16/BF16 rounding is the files' own).
import path from "node:path";

import {
  Engine,
  loraTensorName,
  readSafetensors,
  shardFiles,
  writeSyntheticAdapter,
  writeSyntheticModel,
  type Dtype,
  type Projection,
  type SyntheticModelSpec,
  type TrainBatch,
  type Trainer,
} from "@quiver/engine";

import type { ModuleName, RefAdapter, RefConfig, RefModel } from "./reference.js";

/** mulberry32: a small seeded PRNG; uniform in [-1, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export interface ModelSpec {
  vocab: number;
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  maxPos: number;
  tied?: boolean;
  dtype?: Dtype;
  /** Split the weights over this many files with an index (default 1: model.safetensors). */
  shards?: number;
  seed: number;
}

export const SMALL: ModelSpec = { vocab: 97, dim: 48, hidden: 76, layers: 2, heads: 4, kvHeads: 2, maxPos: 64, seed: 1 };

export function refConfig(s: ModelSpec): RefConfig {
  return {
    vocab: s.vocab,
    dim: s.dim,
    hidden: s.hidden,
    layers: s.layers,
    heads: s.heads,
    kvHeads: s.kvHeads,
    headDim: s.dim / s.heads,
    eps: 1e-5,
    theta: 10000,
  };
}

function synthetic(s: ModelSpec): SyntheticModelSpec {
  return { ...s, tied: s.tied ?? false, dtype: s.dtype ?? "F32" };
}

const PROJECTION: Record<ModuleName, Projection> = {
  q: "q_proj",
  k: "k_proj",
  v: "v_proj",
  o: "o_proj",
  gate: "gate_proj",
  up: "up_proj",
  down: "down_proj",
};

export function modelConfigJson(s: ModelSpec): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: s.dim,
    intermediate_size: s.hidden,
    num_hidden_layers: s.layers,
    num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads,
    vocab_size: s.vocab,
    max_position_embeddings: s.maxPos,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: "silu",
    tie_word_embeddings: s.tied ?? false,
    bos_token_id: 1,
    eos_token_id: 2,
  };
}

/** Writes a random model folder; returns the reference model as read back from the files. */
export function writeRandomModel(dir: string, s: ModelSpec): RefModel {
  writeSyntheticModel(dir, synthetic(s));
  return readModel(dir, s);
}

export function readModel(dir: string, s: ModelSpec): RefModel {
  const all = new Map<string, Float32Array>();
  for (const f of shardFiles(synthetic(s))) for (const [name, t] of readSafetensors(path.join(dir, f))) all.set(name, t.data);
  const get = (n: string) => all.get(n)!;
  const layers = Array.from({ length: s.layers }, (_, l) => {
    const p = `model.layers.${l}.`;
    return {
      attnNorm: get(p + "input_layernorm.weight"),
      q: get(p + "self_attn.q_proj.weight"),
      k: get(p + "self_attn.k_proj.weight"),
      v: get(p + "self_attn.v_proj.weight"),
      o: get(p + "self_attn.o_proj.weight"),
      ffnNorm: get(p + "post_attention_layernorm.weight"),
      gate: get(p + "mlp.gate_proj.weight"),
      up: get(p + "mlp.up_proj.weight"),
      down: get(p + "mlp.down_proj.weight"),
    };
  });
  const embed = get("model.embed_tokens.weight");
  return { config: refConfig(s), embed, layers, norm: get("model.norm.weight"), lmHead: s.tied ? embed : get("lm_head.weight") };
}

export interface AdapterSpec {
  rank: number;
  alpha: number;
  rslora?: boolean;
  modules: ModuleName[];
  /** Layers to adapt (default all). */
  layers?: number[];
  dtype?: Dtype;
  seed: number;
}

/** Writes a PEFT folder for a model of config `c`; returns the adapter read back. */
export function writeRandomAdapter(dir: string, c: RefConfig, s: AdapterSpec, extraConfig: Record<string, unknown> = {}): RefAdapter {
  const model: SyntheticModelSpec = {
    vocab: c.vocab,
    dim: c.dim,
    hidden: c.hidden,
    layers: c.layers,
    heads: c.heads,
    kvHeads: c.kvHeads,
    maxPos: 64,
    tied: false,
    dtype: "F32",
    seed: 0,
  };
  writeSyntheticAdapter(dir, model, {
    rank: s.rank,
    alpha: s.alpha,
    rslora: s.rslora ?? false,
    modules: s.modules.map((m) => PROJECTION[m]),
    seed: s.seed,
    layers: s.layers,
    dtype: s.dtype,
    strength: 0.5,
    config: extraConfig,
  });
  const scale = s.rslora ? s.alpha / Math.sqrt(s.rank) : s.alpha / s.rank;
  const read = readSafetensors(path.join(dir, "adapter_model.safetensors"));
  const adapter: RefAdapter = new Map();
  for (const l of s.layers ?? Array.from({ length: c.layers }, (_, l) => l))
    for (const m of s.modules)
      adapter.set(`${l}.${m}`, {
        rank: s.rank,
        scale,
        A: read.get(loraTensorName(l, PROJECTION[m], "A"))!.data,
        B: read.get(loraTensorName(l, PROJECTION[m], "B"))!.data,
      });
  return adapter;
}

/** A training batch of random tokens; about a third of the positions take no loss, as a
 * prompt's would, and the first always does. */
export function randomTrainBatch(seed: number, batch: number, seqLen: number, vocab: number): TrainBatch {
  const r = rng(seed);
  const tokens = new Int32Array(batch * seqLen);
  const targets = new Int32Array(batch * seqLen);
  for (let i = 0; i < tokens.length; i++) {
    tokens[i] = Math.floor(((r() + 1) / 2) * vocab);
    targets[i] = r() < -0.33 ? -1 : Math.floor(((r() + 1) / 2) * vocab);
  }
  targets[0] = 3;
  return { tokens, targets, batch, seqLen };
}

/** Trains a LoRA trainer on one short sequence (40 steps), writes the adapter as PEFT to
 * `adapterDir` (closing the trainer), and serves it on the CPU engine: the first and last
 * training losses, and the trainer's and the engine's loss on the sequence's last target. */
export async function trainAndServe(t: Trainer, modelDir: string, adapterDir: string) {
  const seq = [1, 4, 9, 2, 7, 7, 3, 11];
  const tokens = Int32Array.from(seq.slice(0, -1));
  const targets = Int32Array.from(seq.slice(1));
  const first = (await t.loss({ tokens, targets, batch: 1, seqLen: tokens.length })).loss;
  let last = first;
  for (let s = 0; s < 40; s++) last = (await t.step({ tokens, targets, batch: 1, seqLen: tokens.length }, 2e-2)).loss;
  const onlyLast = Int32Array.from(targets, (x, i) => (i === targets.length - 1 ? x : -1));
  const trainerLoss = (await t.loss({ tokens, targets: onlyLast, batch: 1, seqLen: tokens.length })).loss;
  t.saveAdapter(adapterDir, { baseModel: "test" });
  t.close();
  const engine = await Engine.open(modelDir, { device: "cpu" });
  const id = await engine.loadAdapter(adapterDir);
  const sq = await engine.createSequence({});
  const { logits } = await engine.step([{ sequence: sq, tokens, strategy: "selection", adapters: [{ adapter: id, weight: 1 }], sample: false }], {
    logits: true,
  });
  await engine.close();
  const z = Array.from(logits!);
  const mx = Math.max(...z);
  const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
  return { first, last, trainerLoss, engineLoss: lse - z[seq[seq.length - 1]!]! };
}
