// Small seeded fixtures for the engine tests: random Llama models and PEFT adapters written
// as real Hugging Face / PEFT folders, and read back into the reference's structures.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { readSafetensors, writeSafetensors, type Dtype, type TensorToWrite } from "@quiver/engine";

import { MODULES, type ModuleName, type RefAdapter, type RefConfig, type RefModel } from "./reference.js";

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
  return { vocab: s.vocab, dim: s.dim, hidden: s.hidden, layers: s.layers, heads: s.heads, kvHeads: s.kvHeads, headDim: s.dim / s.heads, eps: 1e-5, theta: 10000 };
}

export function moduleShape(c: RefConfig, m: ModuleName): { in: number; out: number } {
  const q = c.heads * c.headDim;
  const kv = c.kvHeads * c.headDim;
  switch (m) {
    case "q": return { in: c.dim, out: q };
    case "k": case "v": return { in: c.dim, out: kv };
    case "o": return { in: q, out: c.dim };
    case "gate": case "up": return { in: c.dim, out: c.hidden };
    case "down": return { in: c.hidden, out: c.dim };
  }
}

const HF_NAME: Record<ModuleName, string> = {
  q: "self_attn.q_proj", k: "self_attn.k_proj", v: "self_attn.v_proj", o: "self_attn.o_proj",
  gate: "mlp.gate_proj", up: "mlp.up_proj", down: "mlp.down_proj",
};

function randomTensor(r: () => number, n: number, scale: number, offset = 0): Float32Array {
  const t = new Float32Array(n);
  for (let i = 0; i < n; i++) t[i] = offset + scale * r();
  return t;
}

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
  mkdirSync(dir, { recursive: true });
  const c = refConfig(s);
  const r = rng(s.seed);
  const dtype = s.dtype ?? "F32";
  const t = (name: string, shape: number[], scale: number, offset = 0): TensorToWrite => ({
    name, dtype, shape, data: randomTensor(r, shape.reduce((a, b) => a * b, 1), scale, offset),
  });
  const tensors: TensorToWrite[] = [t("model.embed_tokens.weight", [s.vocab, s.dim], 1)];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(t(p + "input_layernorm.weight", [s.dim], 0.2, 1));
    for (const m of MODULES) {
      if (m === "gate") tensors.push(t(p + "post_attention_layernorm.weight", [s.dim], 0.2, 1));
      const { in: i, out: o } = moduleShape(c, m);
      tensors.push(t(p + HF_NAME[m] + ".weight", [o, i], 1.7 / Math.sqrt(i)));
    }
  }
  tensors.push(t("model.norm.weight", [s.dim], 0.2, 1));
  if (!s.tied) tensors.push(t("lm_head.weight", [s.vocab, s.dim], 1.7 / Math.sqrt(s.dim)));
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(modelConfigJson(s), null, 2));
  const shards = s.shards ?? 1;
  if (shards === 1) {
    writeSafetensors(path.join(dir, "model.safetensors"), tensors);
  } else {
    const weightMap: Record<string, string> = {};
    const per = Math.ceil(tensors.length / shards);
    for (let k = 0; k < shards; k++) {
      const file = `model-${String(k + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
      const part = tensors.slice(k * per, (k + 1) * per);
      writeSafetensors(path.join(dir, file), part);
      for (const x of part) weightMap[x.name] = file;
    }
    writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
  return readModel(dir, s);
}

/** The reference model from the files (so F16/BF16 rounding is the files' own). */
export function readModel(dir: string, s: ModelSpec): RefModel {
  const all = new Map<string, Float32Array>();
  const files = (s.shards ?? 1) === 1 ? ["model.safetensors"]
    : Array.from({ length: s.shards! }, (_, k) => `model-${String(k + 1).padStart(5, "0")}-of-${String(s.shards).padStart(5, "0")}.safetensors`);
  for (const f of files) for (const [name, t] of readSafetensors(path.join(dir, f))) all.set(name, t.data);
  const get = (n: string) => all.get(n)!;
  const layers = Array.from({ length: s.layers }, (_, l) => {
    const p = `model.layers.${l}.`;
    return {
      attnNorm: get(p + "input_layernorm.weight"),
      q: get(p + "self_attn.q_proj.weight"), k: get(p + "self_attn.k_proj.weight"),
      v: get(p + "self_attn.v_proj.weight"), o: get(p + "self_attn.o_proj.weight"),
      ffnNorm: get(p + "post_attention_layernorm.weight"),
      gate: get(p + "mlp.gate_proj.weight"), up: get(p + "mlp.up_proj.weight"), down: get(p + "mlp.down_proj.weight"),
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
  /** Size of the delta relative to the base projection (default 0.5). */
  strength?: number;
}

/** Writes a PEFT LoRA folder for the model; returns the reference adapter read back. */
export function writeRandomAdapter(dir: string, c: RefConfig, s: AdapterSpec, extraConfig: Record<string, unknown> = {}): RefAdapter {
  mkdirSync(dir, { recursive: true });
  const r = rng(s.seed);
  const layers = s.layers ?? Array.from({ length: c.layers }, (_, l) => l);
  const strength = s.strength ?? 0.5;
  const scale = s.rslora ? s.alpha / Math.sqrt(s.rank) : s.alpha / s.rank;
  const tensors: TensorToWrite[] = [];
  for (const l of layers)
    for (const m of s.modules) {
      const { in: i, out: o } = moduleShape(c, m);
      const base = `base_model.model.model.layers.${l}.${HF_NAME[m]}`;
      tensors.push({ name: `${base}.lora_A.weight`, dtype: s.dtype ?? "F32", shape: [s.rank, i], data: randomTensor(r, s.rank * i, 1.7 / Math.sqrt(i)) });
      tensors.push({ name: `${base}.lora_B.weight`, dtype: s.dtype ?? "F32", shape: [o, s.rank], data: randomTensor(r, o * s.rank, (strength * 1.7) / Math.sqrt(s.rank) / scale) });
    }
  writeSafetensors(path.join(dir, "adapter_model.safetensors"), tensors);
  const config = {
    peft_type: "LORA", task_type: "CAUSAL_LM", base_model_name_or_path: "quiver-test/random-llama",
    r: s.rank, lora_alpha: s.alpha, use_rslora: s.rslora ?? false, lora_dropout: 0, bias: "none", fan_in_fan_out: false,
    target_modules: s.modules.map((m) => HF_NAME[m].split(".")[1]), ...extraConfig,
  };
  writeFileSync(path.join(dir, "adapter_config.json"), JSON.stringify(config, null, 2));
  const read = readSafetensors(path.join(dir, "adapter_model.safetensors"));
  const adapter: RefAdapter = new Map();
  for (const l of layers)
    for (const m of s.modules) {
      const base = `base_model.model.model.layers.${l}.${HF_NAME[m]}`;
      adapter.set(`${l}.${m}`, { rank: s.rank, scale, A: read.get(`${base}.lora_A.weight`)!.data, B: read.get(`${base}.lora_B.weight`)!.data });
    }
  return adapter;
}
