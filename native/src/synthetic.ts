// Synthetic Llama models and PEFT adapters with seeded random weights, written as real
// Hugging Face / PEFT folders (the benchmark loads them through the ordinary loader).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { writeSafetensors, type Dtype, type TensorToWrite } from "./safetensors.js";

export interface SyntheticModelSpec {
  vocab: number;
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  maxPos: number;
  tied: boolean;
  dtype: Dtype;
  seed: number;
  /** Spread the weights over this many files with an index (default 1: model.safetensors). */
  shards?: number;
}

export const PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type Projection = (typeof PROJECTIONS)[number];

export interface SyntheticAdapterSpec {
  rank: number;
  alpha: number;
  rslora: boolean;
  modules: readonly Projection[];
  seed: number;
  /** Layers to adapt (default all). */
  layers?: number[];
  /** Size of a delta relative to its projection's output (default 0.3). */
  strength?: number;
  /** Default: the model's dtype. */
  dtype?: Dtype;
  /** Extra or overriding adapter_config.json members. */
  config?: Record<string, unknown>;
}

/** (in, out) features of a projection. */
export function projectionShape(s: SyntheticModelSpec, m: Projection): [number, number] {
  const head = s.dim / s.heads;
  const q = s.heads * head;
  const kv = s.kvHeads * head;
  switch (m) {
    case "q_proj":
      return [s.dim, q];
    case "k_proj":
    case "v_proj":
      return [s.dim, kv];
    case "o_proj":
      return [q, s.dim];
    case "gate_proj":
    case "up_proj":
      return [s.dim, s.hidden];
    case "down_proj":
      return [s.hidden, s.dim];
  }
}

export function parameterCount(s: SyntheticModelSpec): number {
  let n = s.vocab * s.dim * (s.tied ? 1 : 2) + s.dim;
  for (const m of PROJECTIONS) {
    const [i, o] = projectionShape(s, m);
    n += s.layers * i * o;
  }
  return n + s.layers * 2 * s.dim;
}

/** xorshift32 filling a Float32Array uniformly in [offset - scale, offset + scale). */
function fill(n: number, scale: number, offset: number, state: { s: number }): Float32Array {
  const out = new Float32Array(n);
  let x = state.s;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = offset + scale * ((x >>> 0) / 2147483648 - 1);
  }
  state.s = x;
  return out;
}

const parent = (m: Projection) => (m === "gate_proj" || m === "up_proj" || m === "down_proj" ? "mlp" : "self_attn");

export function shardFiles(s: SyntheticModelSpec): string[] {
  const n = s.shards ?? 1;
  if (n === 1) return ["model.safetensors"];
  return Array.from({ length: n }, (_, k) => `model-${String(k + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`);
}

/** Writes config.json and the weights unless DIR already holds them. */
export function writeSyntheticModel(dir: string, s: SyntheticModelSpec): void {
  if (existsSync(path.join(dir, "config.json"))) return;
  mkdirSync(dir, { recursive: true });
  const st = { s: s.seed * 2654435761 || 1 };
  const t = (name: string, shape: number[], scale: number, offset = 0): TensorToWrite => ({
    name,
    dtype: s.dtype,
    shape,
    data: fill(
      shape.reduce((a, b) => a * b, 1),
      scale,
      offset,
      st,
    ),
  });
  const tensors: TensorToWrite[] = [t("model.embed_tokens.weight", [s.vocab, s.dim], 1)];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push(t(p + "input_layernorm.weight", [s.dim], 0.1, 1), t(p + "post_attention_layernorm.weight", [s.dim], 0.1, 1));
    for (const m of PROJECTIONS) {
      const [i, o] = projectionShape(s, m);
      tensors.push(t(`${p}${parent(m)}.${m}.weight`, [o, i], 1.7 / Math.sqrt(i)));
    }
  }
  tensors.push(t("model.norm.weight", [s.dim], 0.1, 1));
  if (!s.tied) tensors.push(t("lm_head.weight", [s.vocab, s.dim], 1.7 / Math.sqrt(s.dim)));
  const config = {
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
    tie_word_embeddings: s.tied,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: s.dtype === "F32" ? "float32" : s.dtype === "F16" ? "float16" : "bfloat16",
  };
  const files = shardFiles(s);
  if (files.length === 1) {
    writeSafetensors(path.join(dir, files[0]!), tensors, { format: "pt", source: "quiver synthetic" });
  } else {
    const per = Math.ceil(tensors.length / files.length);
    const weightMap: Record<string, string> = {};
    files.forEach((file, k) => {
      const part = tensors.slice(k * per, (k + 1) * per);
      writeSafetensors(path.join(dir, file), part, { format: "pt" });
      for (const t of part) weightMap[t.name] = file;
    });
    writeFileSync(path.join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2) + "\n");
  }
  writeFileSync(path.join(dir, "config.json"), JSON.stringify(config, null, 2) + "\n");
}

export function loraTensorName(layer: number, m: Projection, which: "A" | "B"): string {
  return `base_model.model.model.layers.${layer}.${parent(m)}.${m}.lora_${which}.weight`;
}

/** Writes a PEFT LoRA folder for the model unless DIR already holds one. */
export function writeSyntheticAdapter(dir: string, model: SyntheticModelSpec, a: SyntheticAdapterSpec): void {
  if (existsSync(path.join(dir, "adapter_config.json"))) return;
  mkdirSync(dir, { recursive: true });
  const st = { s: a.seed * 2246822519 || 7 };
  const tensors: TensorToWrite[] = [];
  const scaling = a.rslora ? a.alpha / Math.sqrt(a.rank) : a.alpha / a.rank;
  const dtype = a.dtype ?? model.dtype;
  const bScale = ((a.strength ?? 0.3) * 1.7) / Math.sqrt(a.rank) / scaling;
  for (const l of a.layers ?? Array.from({ length: model.layers }, (_, l) => l))
    for (const m of a.modules) {
      const [i, o] = projectionShape(model, m);
      tensors.push({ name: loraTensorName(l, m, "A"), dtype, shape: [a.rank, i], data: fill(a.rank * i, 1.7 / Math.sqrt(i), 0, st) });
      tensors.push({ name: loraTensorName(l, m, "B"), dtype, shape: [o, a.rank], data: fill(o * a.rank, bScale, 0, st) });
    }
  writeSafetensors(path.join(dir, "adapter_model.safetensors"), tensors);
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: "quiver/synthetic-llama",
    r: a.rank,
    lora_alpha: a.alpha,
    use_rslora: a.rslora,
    lora_dropout: 0,
    bias: "none",
    fan_in_fan_out: false,
    target_modules: [...a.modules],
    ...a.config,
  };
  writeFileSync(path.join(dir, "adapter_config.json"), JSON.stringify(config, null, 2) + "\n");
}
