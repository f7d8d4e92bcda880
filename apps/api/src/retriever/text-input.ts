// Input texts on their way to a tokenizer: reject empty ones, put the instruction prefix in
// front, and cut very long ones before tokenizing. Tokenizers here are slow on long strings
// (USE-lite's took 4.5 s for 32k characters) and the models read only their first
// `maxTokens` tokens anyway, so a text is cut to `maxChars` characters first; when that cut
// leaves too few tokens to be sure the model's first `maxTokens` are unchanged, the cut is
// widened.

import { RetrieverError, RetrieverErrorCode } from "./errors.js";
import type { Truncation } from "./encoder.js";

/** Characters handed to the tokenizer at first (enough for 128 tokens of ordinary text). */
export const DEFAULT_MAX_CHARS = 1000;
/** The widest cut tried before giving up on keeping every token the model could read. */
const MAX_WIDENED_CHARS = 16_000;
/** Extra tokens past the model's limit that must exist before a cut counts as safe. */
const SAFETY_TOKENS = 4;

/** Throws EMPTY_INPUT for texts that are empty or whitespace only. */
export function checkTexts(texts: readonly string[]): void {
  if (!Array.isArray(texts)) {
    throw new RetrieverError(RetrieverErrorCode.BAD_REQUEST, "encode() takes an array of strings");
  }
  texts.forEach((t, i) => {
    if (typeof t !== "string" || t.trim().length === 0) {
      throw new RetrieverError(RetrieverErrorCode.EMPTY_INPUT, `input ${i} is empty: an encoder needs some text to embed`);
    }
  });
}

/** The first `limit` UTF-16 units of `s`, never splitting a surrogate pair. */
export function cutText(s: string, limit: number): string {
  if (s.length <= limit) return s;
  let end = limit;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end -= 1;
  return s.slice(0, end);
}

export interface TokenizedText<Id> {
  /** The token ids the model reads, at most maxTokens of them. */
  ids: Id[];
  /** Set when characters or tokens were dropped. */
  truncation?: Omit<Truncation, "index">;
}

/**
 * Prefixes, cuts and tokenizes one text. `tokenize` returns the ids of the whole string it
 * is given (no special tokens); the result keeps the first `maxTokens` of them.
 */
export function tokenizeCapped<Id>(
  text: string,
  prefix: string,
  tokenize: (s: string) => Id[],
  maxTokens: number,
  maxChars: number = DEFAULT_MAX_CHARS,
): TokenizedText<Id> {
  const full = prefix + text;
  let limit = maxChars;
  for (;;) {
    const kept = cutText(full, limit);
    const ids = tokenize(kept);
    const wholeText = kept.length === full.length;
    if (wholeText || ids.length >= maxTokens + SAFETY_TOKENS || limit >= MAX_WIDENED_CHARS) {
      if (wholeText && ids.length <= maxTokens) return { ids };
      return {
        ids: ids.slice(0, maxTokens),
        truncation: {
          originalChars: full.length,
          keptChars: kept.length,
          tokens: ids.length,
          keptTokens: Math.min(ids.length, maxTokens),
        },
      };
    }
    limit *= 4;
  }
}
