// Any sentence-transformer exported to ONNX (QUIVER_ENCODER=onnx:<folder>), run with
// onnxruntime on the CPU. The folder, as Hugging Face exports lay it out:
//   model.onnx (or onnx/model.onnx)   inputs input_ids, attention_mask[, token_type_ids]
//                                     (int64, batch x sequence) -> last_hidden_state
//                                     (batch x sequence x hidden)
//   tokenizer.json                    read by @huggingface/tokenizers
//   1_Pooling/config.json             pooling_mode_mean_tokens | pooling_mode_cls_token
//   sentence_bert_config.json         optional: max_seq_length (else 512)
//   tokenizer_config.json             optional
// Vectors: pooled (masked mean over tokens, or the first token), then normalised.
// Identity: "onnx:" + sha256 prefix over model, tokenizer and pooling config.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { RetrieverError, RetrieverErrorCode } from "../errors.js";
import { identityWithPrefix, type EncodeResult, type SentenceEncoder, type Truncation } from "../encoder.js";
import { createSession, int64Tensor, type OrtSession } from "../onnx/ort.js";
import { checkTexts, tokenizeCapped, DEFAULT_MAX_CHARS } from "../text-input.js";

export type Pooling = "mean" | "cls";

const DEFAULT_MAX_TOKENS = 512;

interface OnnxFolderFiles {
  model: string;
  tokenizer: string;
  pooling: string;
}

function missing(folder: string, what: string, hint: string): RetrieverError {
  return new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISSING, `encoder folder ${folder} has no ${what}: ${hint}`);
}

function mismatch(folder: string, message: string): RetrieverError {
  return new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `encoder folder ${folder}: ${message}`);
}

function readJson(file: string, folder: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw mismatch(folder, `${path.relative(folder, file)} is not valid JSON (${(err as Error).message})`);
  }
}

function locateFiles(folder: string): OnnxFolderFiles {
  if (!existsSync(folder)) throw missing(folder, "such folder", "QUIVER_ENCODER=onnx:<folder> must name an existing folder");
  const model = ["model.onnx", path.join("onnx", "model.onnx")].map((f) => path.join(folder, f)).find((f) => existsSync(f));
  if (!model) throw missing(folder, "model.onnx", "export the sentence-transformer to ONNX (model.onnx or onnx/model.onnx)");
  const tokenizer = path.join(folder, "tokenizer.json");
  if (!existsSync(tokenizer)) throw missing(folder, "tokenizer.json", "save the tokenizer in the fast (tokenizer.json) format");
  const pooling = path.join(folder, "1_Pooling", "config.json");
  if (!existsSync(pooling)) throw missing(folder, "1_Pooling/config.json", "the sentence-transformers pooling config says mean or CLS pooling");
  return { model, tokenizer, pooling };
}

function readPooling(file: string, folder: string): { pooling: Pooling; dimension: number } {
  const cfg = readJson(file, folder);
  const mean = cfg.pooling_mode_mean_tokens === true;
  const cls = cfg.pooling_mode_cls_token === true;
  const others = ["pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"].filter(
    (k) => cfg[k] === true,
  );
  if (mean === cls || others.length > 0) {
    throw mismatch(
      folder,
      `1_Pooling/config.json must choose exactly one of pooling_mode_mean_tokens and pooling_mode_cls_token${others.length ? ` (also set: ${others.join(", ")})` : ""}`,
    );
  }
  const dimension = cfg.word_embedding_dimension;
  if (typeof dimension !== "number" || !Number.isInteger(dimension) || dimension < 1) {
    throw mismatch(folder, "1_Pooling/config.json lacks a positive word_embedding_dimension");
  }
  return { pooling: mean ? "mean" : "cls", dimension };
}

/** The special tokens the tokenizer puts before and after a single text ([CLS] ... [SEP]). */
function specialFrame(tok: Tokenizer): { before: number[]; after: number[] } {
  const probe = "quiver probe";
  const plain = tok.encode(probe, { add_special_tokens: false }).ids as number[];
  const framed = tok.encode(probe, { add_special_tokens: true }).ids as number[];
  for (let start = 0; start + plain.length <= framed.length; start++) {
    if (plain.every((id, i) => framed[start + i] === id)) {
      return { before: framed.slice(0, start), after: framed.slice(start + plain.length) };
    }
  }
  return { before: [], after: [] };
}

export interface OnnxEncoderOptions {
  prefix?: string;
  batchSize?: number;
  maxChars?: number;
}

export class OnnxEncoder implements SentenceEncoder {
  readonly kind = "onnx" as const;
  readonly identity: string;
  readonly name: string;
  readonly prefix: string;

  private constructor(
    private readonly folder: string,
    private readonly session: OrtSession,
    private readonly tokenizer: Tokenizer,
    private readonly frame: { before: number[]; after: number[] },
    readonly pooling: Pooling,
    readonly dimension: number,
    readonly maxTokens: number,
    private readonly hasTokenTypes: boolean,
    private readonly output: string,
    contentHash: string,
    private readonly batchSize: number,
    private readonly maxChars: number,
    prefix: string,
  ) {
    this.prefix = prefix;
    this.identity = identityWithPrefix(`onnx:${contentHash.slice(0, 16)}`, prefix);
    this.name = `ONNX sentence encoder ${path.basename(path.resolve(folder))} (${pooling} pooling, ${dimension}-d)`;
  }

  static async load(folder: string, options: OnnxEncoderOptions = {}): Promise<OnnxEncoder> {
    const files = locateFiles(folder);
    const { pooling, dimension } = readPooling(files.pooling, folder);
    const tokenizerJson = readJson(files.tokenizer, folder);
    const configFile = path.join(folder, "tokenizer_config.json");
    const tokenizerConfig = existsSync(configFile) ? readJson(configFile, folder) : {};
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (err) {
      throw mismatch(folder, `tokenizer.json could not be loaded (${(err as Error).message})`);
    }
    const sbert = path.join(folder, "sentence_bert_config.json");
    const maxSeq = existsSync(sbert) ? readJson(sbert, folder).max_seq_length : undefined;
    const maxTokens = typeof maxSeq === "number" && Number.isInteger(maxSeq) && maxSeq > 2 ? maxSeq : DEFAULT_MAX_TOKENS;

    const modelBytes = readFileSync(files.model);
    const hash = createHash("sha256").update(modelBytes).update(readFileSync(files.tokenizer)).update(readFileSync(files.pooling)).digest("hex");
    const session = await createSession(new Uint8Array(modelBytes), files.model);
    try {
      for (const name of ["input_ids", "attention_mask"]) {
        if (!session.inputNames.includes(name)) throw mismatch(folder, `model.onnx has no "${name}" input (inputs: ${session.inputNames.join(", ")})`);
      }
      const output = ["last_hidden_state", "token_embeddings"].find((o) => session.outputNames.includes(o));
      if (!output) throw mismatch(folder, `model.onnx has no last_hidden_state output (outputs: ${session.outputNames.join(", ")})`);
      const encoder = new OnnxEncoder(
        folder,
        session,
        tokenizer,
        specialFrame(tokenizer),
        pooling,
        dimension,
        maxTokens,
        session.inputNames.includes("token_type_ids"),
        output,
        hash,
        options.batchSize ?? 16,
        options.maxChars ?? DEFAULT_MAX_CHARS,
        options.prefix ?? "",
      );
      await encoder.probe();
      return encoder;
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** One run at load: the output width must match the pooling config and every token id must embed. */
  private async probe(): Promise<void> {
    const maxId = Math.max(...this.tokenizer.get_vocab(true).values());
    let hidden: Float32Array[];
    try {
      hidden = await this.run([[...this.frame.before, maxId, ...this.frame.after]]);
    } catch (err) {
      throw mismatch(
        this.folder,
        `model.onnx fails on the tokenizer's largest token id ${maxId}; tokenizer.json and model.onnx do not belong together (${(err as Error).message})`,
      );
    }
    if (hidden[0]!.length !== this.dimension) {
      throw mismatch(this.folder, `model.onnx outputs ${hidden[0]!.length}-d token vectors, 1_Pooling/config.json says ${this.dimension}`);
    }
  }

  /** Token ids for one text (framed with special tokens), and what was cut. */
  tokenize(text: string): { ids: number[]; truncation?: Omit<Truncation, "index"> } {
    const room = this.maxTokens - this.frame.before.length - this.frame.after.length;
    const r = tokenizeCapped(text, this.prefix, (s) => this.tokenizer.encode(s, { add_special_tokens: false }).ids as number[], room, this.maxChars);
    return { ids: [...this.frame.before, ...r.ids, ...this.frame.after], truncation: r.truncation };
  }

  /** Pooled, normalised vectors for token-id rows: (n) x (dimension). */
  private async run(rows: number[][]): Promise<Float32Array[]> {
    const n = rows.length;
    const t = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(n * t);
    const mask = new BigInt64Array(n * t);
    rows.forEach((row, i) =>
      row.forEach((id, j) => {
        ids[i * t + j] = BigInt(id);
        mask[i * t + j] = 1n;
      }),
    );
    const feeds: Record<string, ReturnType<typeof int64Tensor>> = { input_ids: int64Tensor(ids, n, t), attention_mask: int64Tensor(mask, n, t) };
    if (this.hasTokenTypes) feeds.token_type_ids = int64Tensor(new BigInt64Array(n * t), n, t);
    const out = (await this.session.run(feeds))[this.output]!;
    const [, , h] = out.dims as [number, number, number];
    const data = out.data as Float32Array; // (n, t, h)
    return rows.map((row, i) => {
      const v = new Float32Array(h);
      const count = this.pooling === "cls" ? 1 : row.length;
      for (let j = 0; j < count; j++) for (let k = 0; k < h; k++) v[k]! += data[(i * t + j) * h + k]!;
      let norm = 0;
      for (let k = 0; k < h; k++) norm += v[k]! * v[k]!;
      norm = Math.sqrt(norm) || 1;
      for (let k = 0; k < h; k++) v[k]! /= norm;
      return v;
    });
  }

  async encode(texts: readonly string[]): Promise<EncodeResult> {
    checkTexts(texts);
    const truncations: Truncation[] = [];
    const rows = texts.map((t, index) => {
      const r = this.tokenize(t);
      if (r.truncation) truncations.push({ index, ...r.truncation });
      return r.ids;
    });
    const order = rows.map((_, i) => i).sort((a, b) => rows[a]!.length - rows[b]!.length);
    const vectors = new Array<Float32Array>(rows.length);
    for (let s = 0; s < order.length; s += this.batchSize) {
      const batch = order.slice(s, s + this.batchSize);
      const out = await this.run(batch.map((i) => rows[i]!));
      batch.forEach((i, j) => (vectors[i] = out[j]!));
    }
    return { vectors, truncations };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
