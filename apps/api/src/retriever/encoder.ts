// The sentence-encoder interface every retrieval path uses: texts in, unit-length vectors out.
// Kinds: "use-lite" (the bundled default), "onnx" (any sentence-transformer export in a
// folder), and "head" (a trained projection head on top of one of those).

import { createHash } from "node:crypto";

export type EncoderKind = "use-lite" | "onnx" | "head";

/** What was cut from one input before it reached the model (the caller is told, never silently). */
export interface Truncation {
  /** Position of the input in the batch. */
  index: number;
  /** Characters in the input (with the prefix). */
  originalChars: number;
  /** Characters handed to the tokenizer. */
  keptChars: number;
  /** Tokens the text had (within the characters kept). */
  tokens: number;
  /** Tokens the model saw (its maximum sequence length caps this). */
  keptTokens: number;
}

export interface EncodeResult {
  /** One vector per input, in input order: (n) x (dimension), each of unit length. */
  vectors: Float32Array[];
  /** One entry per input that was cut; empty when nothing was. */
  truncations: Truncation[];
}

/** What the catalog stores about an encoder (model Encoder). */
export interface EncoderDescription {
  /** Stable identity: the same id means the same vectors for the same text. */
  identity: string;
  kind: EncoderKind;
  /** Human-readable name ("Universal Sentence Encoder Lite 0.2.0"). */
  name: string;
  dimension: number;
  /** Instruction prefix put before every text (part of the identity). */
  prefix: string;
}

export interface SentenceEncoder extends EncoderDescription {
  /** Longest token sequence the model reads; longer inputs are cut and reported. */
  readonly maxTokens: number;
  /** Embeds texts (batched inside); rejects with a RetrieverError on empty input. */
  encode(texts: readonly string[]): Promise<EncodeResult>;
  /** Frees the model (sessions, tensors). */
  close(): Promise<void>;
}

export function describeEncoder(e: EncoderDescription): EncoderDescription {
  return { identity: e.identity, kind: e.kind, name: e.name, dimension: e.dimension, prefix: e.prefix };
}

/**
 * An encoder identity that includes the instruction prefix: the same model with another
 * prefix makes other vectors, so it is another encoder to the catalog.
 */
export function identityWithPrefix(base: string, prefix: string): string {
  if (prefix === "") return base;
  return `${base}+prefix:${createHash("sha256").update(prefix, "utf8").digest("hex").slice(0, 12)}`;
}
