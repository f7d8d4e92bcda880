// A tiny sentence-transformer folder, built by the tests themselves, laid out like a Hugging
// Face ONNX export: model.onnx with the same signature (input_ids, attention_mask,
// token_type_ids -> last_hidden_state), a WordPiece tokenizer.json with [CLS] ... [SEP],
// 1_Pooling/config.json and sentence_bert_config.json. Seeded: the same folder every time.
// `referenceHidden` computes the model's output in plain JS, for parity checks.
//
// The model (H = hidden size, T tokens):
//   e = LN(Word[ids] + Pos[0..T) + Type[token_type_ids])   (B, T, H)
//   last_hidden_state = tanh(e @ W + b) * mask              (B, T, H)

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { OnnxGraph } from "../../apps/api/src/retriever/onnx/onnx-model.js";
import { Rng } from "../../apps/api/src/retriever/head/rng.js";

export const WORDS = [
  "the",
  "a",
  "movie",
  "film",
  "was",
  "great",
  "bad",
  "good",
  "terrible",
  "translate",
  "to",
  "french",
  "german",
  "what",
  "is",
  "capital",
  "of",
  "city",
  "question",
  "answer",
  "review",
  "sentiment",
  "positive",
  "negative",
  "sentence",
  "write",
  "english",
  "play",
  "##s",
  "##ing",
  "##ed",
  ".",
  ",",
  "?",
  ":",
];
const SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];

export interface TinyModel {
  vocab: string[];
  hidden: number;
  maxPositions: number;
  word: Float32Array; // (V, H)
  pos: Float32Array; // (P, H)
  type: Float32Array; // (2, H)
  gamma: Float32Array; // (H)
  beta: Float32Array; // (H)
  w: Float32Array; // (H, H)
  b: Float32Array; // (H)
}

export function tinyModel(seed = 11, hidden = 16, maxPositions = 64): TinyModel {
  const rng = new Rng(seed);
  const rand = (n: number, s: number) => Float32Array.from({ length: n }, () => rng.normal() * s);
  const vocab = [...SPECIAL, ...WORDS];
  return {
    vocab,
    hidden,
    maxPositions,
    word: rand(vocab.length * hidden, 1),
    pos: rand(maxPositions * hidden, 0.1),
    type: rand(2 * hidden, 0.1),
    gamma: Float32Array.from({ length: hidden }, () => 1 + rng.normal() * 0.1),
    beta: rand(hidden, 0.1),
    w: rand(hidden * hidden, 1 / Math.sqrt(hidden)),
    b: rand(hidden, 0.1),
  };
}

export function tinyModelOnnx(m: TinyModel, options: { outputName?: string; vocabRows?: number } = {}): Uint8Array {
  const H = m.hidden;
  const rows = options.vocabRows ?? m.vocab.length;
  const g = new OnnxGraph("tiny_sentence_model");
  const ids = g.input("input_ids", "int64", ["batch", "sequence"]);
  const mask = g.input("attention_mask", "int64", ["batch", "sequence"]);
  const types = g.input("token_type_ids", "int64", ["batch", "sequence"]);
  const seqLen = g.op("Gather", [g.op("Shape", [ids]), g.i64("one_scalar", [1], [])], { axis: { i: 0 } });
  const positions = g.op("Range", [g.i64("zero_scalar", [0], []), seqLen, g.i64("step", [1], [])]);
  const e = g.op("Add", [
    g.op("Add", [
      g.op("Gather", [g.f32("word", [rows, H], m.word.subarray(0, rows * H)), ids]),
      g.op("Gather", [g.f32("pos", [m.maxPositions, H], m.pos), positions]),
    ]),
    g.op("Gather", [g.f32("type", [2, H], m.type), types]),
  ]);
  const ln = g.op("LayerNormalization", [e, g.f32("gamma", [H], m.gamma), g.f32("beta", [H], m.beta)], { axis: { i: -1 }, epsilon: { f: 1e-5 } });
  const h = g.op("Tanh", [g.op("Add", [g.op("MatMul", [ln, g.f32("w", [H, H], m.w)]), g.f32("b", [H], m.b)])]);
  const masked = g.op("Mul", [h, g.op("Unsqueeze", [g.op("Cast", [mask], { to: { i: 1 } }), g.i64("axis2", [2])])]);
  g.output(masked, options.outputName ?? "last_hidden_state", "float32", ["batch", "sequence", H]);
  return g.toBytes({ producer: "quiver-tests" });
}

/** last_hidden_state for one unpadded row of token ids, in float64: (T) x (H). */
export function referenceHidden(m: TinyModel, ids: number[]): Float64Array[] {
  const H = m.hidden;
  return ids.map((id, t) => {
    const e = Array.from({ length: H }, (_, k) => m.word[id * H + k]! + m.pos[t * H + k]! + m.type[k]!);
    const mu = e.reduce((a, x) => a + x, 0) / H;
    const v = e.reduce((a, x) => a + (x - mu) ** 2, 0) / H;
    const ln = e.map((x, k) => ((x - mu) / Math.sqrt(v + 1e-5)) * m.gamma[k]! + m.beta[k]!);
    return Float64Array.from({ length: H }, (_, j) => Math.tanh(ln.reduce((a, x, k) => a + x * m.w[k * H + j]!, 0) + m.b[j]!));
  });
}

export function tokenizerJson(vocab: string[]): object {
  const special = (content: string, id: number) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((s, i) => special(s, i)),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "[CLS]", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "[SEP]", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
        { SpecialToken: { id: "[SEP]", type_id: 1 } },
      ],
      special_tokens: {
        "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] },
        "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((w, i) => [w, i])),
    },
  };
}

/** Writes the whole folder; returns the model it holds. */
export function writeTinyModelFolder(
  dir: string,
  options: { pooling?: "mean" | "cls"; maxSeqLength?: number; seed?: number; outputName?: string; vocabRows?: number } = {},
): TinyModel {
  const m = tinyModel(options.seed);
  mkdirSync(path.join(dir, "1_Pooling"), { recursive: true });
  writeFileSync(path.join(dir, "model.onnx"), tinyModelOnnx(m, options));
  writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizerJson(m.vocab)));
  writeFileSync(
    path.join(dir, "1_Pooling", "config.json"),
    JSON.stringify({
      word_embedding_dimension: m.hidden,
      pooling_mode_cls_token: options.pooling === "cls",
      pooling_mode_mean_tokens: options.pooling !== "cls",
    }),
  );
  writeFileSync(path.join(dir, "sentence_bert_config.json"), JSON.stringify({ max_seq_length: options.maxSeqLength ?? 32, do_lower_case: false }));
  return m;
}
