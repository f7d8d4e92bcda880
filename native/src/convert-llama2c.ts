// Converts a llama2.c checkpoint (legacy .bin) and its tokenizer (.bin) into a Hugging Face
// folder: config.json, model.safetensors, tokenizer.json (+ tokenizer_config.json).
// Formats: ../../shared/models/stories260K/PROVENANCE.md.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { EngineError } from "./errors.js";
import { writeSafetensors, type TensorToWrite } from "./safetensors.js";

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** The classifier is the token embedding (vocab_size was positive in the header). */
  shared: boolean;
}

const SPACE = "\u2581"; // sentencepiece's visible space

/** Reads the 7-int header and checks the file holds exactly the tensors it implies. */
function readCheckpoint(buf: Buffer): { cfg: Llama2cConfig; floats: Float32Array } {
  if (buf.length < 28) throw new EngineError("FILE_CORRUPT", "checkpoint shorter than its 28-byte header");
  const h = Array.from({ length: 7 }, (_, i) => buf.readInt32LE(4 * i));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = h as [number, number, number, number, number, number, number];
  const cfg: Llama2cConfig = {
    dim,
    hiddenDim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: Math.abs(vocab),
    seqLen,
    shared: vocab > 0,
  };
  if ([dim, hiddenDim, nLayers, nHeads, nKvHeads, cfg.vocabSize, seqLen].some((v) => !(v > 0 && v < 1 << 24)) || dim % nHeads !== 0 || nHeads % nKvHeads !== 0)
    throw new EngineError("FILE_CORRUPT", `checkpoint header is not a llama2.c config: ${h.join(", ")}`);
  const headSize = dim / nHeads;
  const kvDim = nKvHeads * headSize;
  const perLayer = 2 * dim + dim * dim * 2 + 2 * kvDim * dim + 3 * hiddenDim * dim;
  const expected = cfg.vocabSize * dim + nLayers * perLayer + dim + seqLen * headSize + (cfg.shared ? 0 : cfg.vocabSize * dim);
  const have = (buf.length - 28) / 4;
  if (have !== expected)
    throw new EngineError("FILE_CORRUPT", `checkpoint holds ${have} floats; its header implies ${expected} (truncated or not llama2.c format)`);
  const floats = new Float32Array(buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length));
  return { cfg, floats };
}

/**
 * llama2.c rotates adjacent pairs (2i, 2i+1) of a head; Hugging Face rotates i with
 * i + head/2. Reorders the rows of a (heads * head, dim) projection accordingly.
 */
export function permuteRotaryRows(w: Float32Array, heads: number, headSize: number, dim: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headSize / 2;
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < half; i++)
      for (const part of [0, 1]) {
        const src = (h * headSize + 2 * i + part) * dim;
        const dst = (h * headSize + part * half + i) * dim;
        out.set(w.subarray(src, src + dim), dst);
      }
  return out;
}

export function convertCheckpoint(buf: Buffer): { cfg: Llama2cConfig; tensors: TensorToWrite[] } {
  const { cfg, floats } = readCheckpoint(buf);
  const { dim, hiddenDim: hid, nLayers: L, nHeads, nKvHeads, vocabSize: V } = cfg;
  const hs = dim / nHeads;
  const kvDim = nKvHeads * hs;
  let off = 0;
  const take = (n: number): Float32Array => {
    const t = floats.subarray(off, off + n);
    off += n;
    return t;
  };
  const embed = take(V * dim); // (vocab, dim)
  const rmsAtt = take(L * dim); // (layer, dim)
  const wq = take(L * dim * dim); // (layer, dim, dim)
  const wk = take(L * kvDim * dim); // (layer, kv_dim, dim)
  const wv = take(L * kvDim * dim); // (layer, kv_dim, dim)
  const wo = take(L * dim * dim); // (layer, dim, dim)
  const rmsFfn = take(L * dim); // (layer, dim)
  const w1 = take(L * hid * dim); // (layer, hidden, dim)
  const w2 = take(L * dim * hid); // (layer, dim, hidden)
  const w3 = take(L * hid * dim); // (layer, hidden, dim)
  const rmsFinal = take(dim); // (dim)
  take(cfg.seqLen * hs); // legacy RoPE tables (real, imag), unused
  const wcls = cfg.shared ? embed : take(V * dim); // (vocab, dim)

  const f32 = (name: string, shape: number[], data: Float32Array): TensorToWrite => ({ name, dtype: "F32", shape, data });
  const tensors: TensorToWrite[] = [f32("model.embed_tokens.weight", [V, dim], embed)];
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    const slice = (t: Float32Array, n: number) => t.subarray(l * n, (l + 1) * n);
    tensors.push(
      f32(p + "input_layernorm.weight", [dim], slice(rmsAtt, dim)),
      f32(p + "self_attn.q_proj.weight", [dim, dim], permuteRotaryRows(slice(wq, dim * dim), nHeads, hs, dim)),
      f32(p + "self_attn.k_proj.weight", [kvDim, dim], permuteRotaryRows(slice(wk, kvDim * dim), nKvHeads, hs, dim)),
      f32(p + "self_attn.v_proj.weight", [kvDim, dim], slice(wv, kvDim * dim)),
      f32(p + "self_attn.o_proj.weight", [dim, dim], slice(wo, dim * dim)),
      f32(p + "post_attention_layernorm.weight", [dim], slice(rmsFfn, dim)),
      f32(p + "mlp.gate_proj.weight", [hid, dim], slice(w1, hid * dim)),
      f32(p + "mlp.down_proj.weight", [dim, hid], slice(w2, dim * hid)),
      f32(p + "mlp.up_proj.weight", [hid, dim], slice(w3, hid * dim)),
    );
  }
  tensors.push(f32("model.norm.weight", [dim], rmsFinal));
  if (!cfg.shared) tensors.push(f32("lm_head.weight", [V, dim], wcls));
  return { cfg, tensors };
}

/** Reads tok512-style tokenizer.bin: int32 max length, then (f32 score, int32 len, bytes) per token. */
export function readLlama2cTokenizer(buf: Buffer, vocabSize: number): { pieces: string[]; scores: number[] } {
  const pieces: string[] = [];
  const scores: number[] = [];
  let off = 4;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < vocabSize; i++) {
    if (off + 8 > buf.length) throw new EngineError("FILE_CORRUPT", `tokenizer ends at token ${i} of ${vocabSize}`);
    scores.push(buf.readFloatLE(off));
    const len = buf.readInt32LE(off + 4);
    off += 8;
    if (len < 0 || off + len > buf.length) throw new EngineError("FILE_CORRUPT", `tokenizer token ${i} has a bad length`);
    try {
      pieces.push(decoder.decode(buf.subarray(off, off + len)));
    } catch {
      throw new EngineError("FILE_CORRUPT", `tokenizer token ${i} is not UTF-8`);
    }
    off += len;
  }
  return { pieces, scores };
}

/**
 * A Hugging Face tokenizer.json (Llama style: BPE with byte fallback) equivalent to
 * llama2.c's encoder: llama2.c repeatedly merges the adjacent pair whose concatenation has
 * the best score, so every split of a piece into two pieces becomes a merge, ranked by the
 * merged piece's score.
 */
export function tokenizerJson(pieces: string[], scores: number[], bos: number, eos: number): object {
  const special = new Map<number, string>([
    [0, "<unk>"],
    [bos, "<s>"],
    [eos, "</s>"],
  ]);
  const isByte = (p: string) => /^<0x[0-9A-F]{2}>$/.test(p);
  const vocab: Record<string, number> = {};
  const names = pieces.map((p, id) => special.get(id) ?? p.replaceAll(" ", SPACE));
  names.forEach((name, id) => {
    if (!(name in vocab)) vocab[name] = id;
  });
  const mergeable = (name: string) => name in vocab && !isByte(name) && ![...special.values()].includes(name);
  const ranked = names
    .map((name, id) => ({ name, id, score: scores[id]! }))
    .filter((t) => mergeable(t.name) && vocab[t.name] === t.id && Array.from(t.name).length > 1)
    .sort((a, b) => b.score - a.score || a.id - b.id);
  const merges: [string, string][] = [];
  for (const t of ranked) {
    const chars = Array.from(t.name);
    for (let cut = 1; cut < chars.length; cut++) {
      const left = chars.slice(0, cut).join("");
      const right = chars.slice(cut).join("");
      if (mergeable(left) && mergeable(right)) merges.push([left, right]);
    }
  }
  const added = [...special.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, content]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: SPACE },
        { type: "Replace", pattern: { String: " " }, content: SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [bos], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: SPACE }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

export interface ConvertResult {
  config: Llama2cConfig;
  files: string[];
}

/** `quiver convert llama2c`: writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json. */
export function convertLlama2c(checkpointFile: string, tokenizerFile: string, outDir: string): ConvertResult {
  const read = (f: string) => {
    try {
      return readFileSync(f);
    } catch {
      throw new EngineError("FILE_MISSING", `cannot read ${f}`);
    }
  };
  const { cfg, tensors } = convertCheckpoint(read(checkpointFile));
  const { pieces, scores } = readLlama2cTokenizer(read(tokenizerFile), cfg.vocabSize);
  const bos = 1;
  const eos = 2;
  mkdirSync(outDir, { recursive: true });
  const config = {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: cfg.dim,
    intermediate_size: cfg.hiddenDim,
    num_hidden_layers: cfg.nLayers,
    num_attention_heads: cfg.nHeads,
    num_key_value_heads: cfg.nKvHeads,
    vocab_size: cfg.vocabSize,
    max_position_embeddings: cfg.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000.0,
    hidden_act: "silu",
    tie_word_embeddings: cfg.shared,
    bos_token_id: bos,
    // llama2.c models separate documents with BOS and stop when they emit it.
    eos_token_id: [eos, bos],
    torch_dtype: "float32",
  };
  const files = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"];
  writeFileSync(path.join(outDir, files[0]!), JSON.stringify(config, null, 2) + "\n");
  writeSafetensors(path.join(outDir, files[1]!), tensors, { format: "pt", source: "llama2.c" });
  writeFileSync(path.join(outDir, files[2]!), JSON.stringify(tokenizerJson(pieces, scores, bos, eos)));
  const tokConfig = {
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    model_max_length: cfg.seqLen,
    tokenizer_class: "LlamaTokenizerFast",
  };
  writeFileSync(path.join(outDir, files[3]!), JSON.stringify(tokConfig, null, 2) + "\n");
  return { config: cfg, files };
}
