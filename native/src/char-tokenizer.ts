// A character-level tokenizer.json for small models (the model zoo): one token per
// printable ASCII character and the newline, plus <unk>, <s> and </s>. It is a BPE model
// with no merges, which every tokenizer.json reader understands.
import { writeFileSync } from "node:fs";
import path from "node:path";

export const CHAR_SPECIALS = ["<unk>", "<s>", "</s>"] as const;

/** The vocabulary in id order: the specials, "\n", then " " to "~". */
export function charVocabulary(): string[] {
  const chars = ["\n"];
  for (let c = 32; c <= 126; c++) chars.push(String.fromCharCode(c));
  return [...CHAR_SPECIALS, ...chars];
}

/** Writes DIR/tokenizer.json and DIR/tokenizer_config.json; returns the vocabulary size. */
export function writeCharTokenizer(dir: string, options: { promptTemplate?: string } = {}): number {
  const vocab = charVocabulary();
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: CHAR_SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: "Fuse" },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      merges: [],
    },
  };
  writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(tokenizer) + "\n");
  const config: Record<string, unknown> = {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    model_max_length: 1 << 30,
    ...(options.promptTemplate ? { quiver_prompt_template: options.promptTemplate } : {}),
  };
  writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n");
  return vocab.length;
}
