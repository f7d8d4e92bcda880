// Text <-> token ids through a Hugging Face tokenizer.json (@huggingface/tokenizers, pure
// JS). Special tokens such as BOS are added by the engine, never by the tokenizer.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { Tokenizer } from "@huggingface/tokenizers";

import { EngineError } from "./errors.js";

export class TextTokenizer {
  private constructor(
    private readonly tok: Tokenizer,
    /** Quiver's extension of tokenizer_config.json: `"quiver_prompt_template": "{prompt}\n"` wraps a
     * generation prompt (the model zoo's models answer after a newline). Undefined: as is. */
    readonly promptTemplate: string | undefined,
  ) {}

  /** Reads DIR/tokenizer.json (and tokenizer_config.json when present). */
  static load(dir: string): TextTokenizer {
    const file = path.join(dir, "tokenizer.json");
    if (!existsSync(file)) throw new EngineError("FILE_MISSING", `${file} does not exist`);
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new EngineError("FILE_CORRUPT", `${file}: ${(err as Error).message}`);
    }
    const configFile = path.join(dir, "tokenizer_config.json");
    let config: Record<string, unknown> = {};
    if (existsSync(configFile)) {
      try {
        config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
      } catch (err) {
        throw new EngineError("FILE_CORRUPT", `${configFile}: ${(err as Error).message}`);
      }
    }
    // Decoding must give back the model's text as is ("Lily ." stays "Lily .").
    config = { ...config, clean_up_tokenization_spaces: false };
    const template = config.quiver_prompt_template;
    if (template !== undefined && (typeof template !== "string" || !template.includes("{prompt}")))
      throw new EngineError("FILE_CORRUPT", `${configFile}: quiver_prompt_template must be a string containing {prompt}`);
    try {
      return new TextTokenizer(new Tokenizer(json as object, config), template);
    } catch (err) {
      throw new EngineError("FILE_CORRUPT", `${file}: ${(err as Error).message}`);
    }
  }

  /** Token ids of `text`, without special tokens. */
  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /** Token ids of a generation prompt: `text` inside the model's prompt template, if it has one
   * (retrieval and stop sequences see the prompt as is). */
  encodePrompt(text: string): number[] {
    if (text === "") return []; // an empty prompt means "start from BOS" whatever the template
    return this.encode(this.promptTemplate ? this.promptTemplate.replace("{prompt}", () => text) : text);
  }

  decode(ids: ArrayLike<number>): string {
    if (ids.length === 0) return ""; // the library refuses an empty list
    return this.tok.decode(Array.from(ids), { skip_special_tokens: true });
  }

  /** A decoder for tokens that arrive one by one: push() returns the text that became final. */
  streamDecoder(): { push(id: number): string; flush(): string } {
    const ids: number[] = [];
    let emitted = 0;
    const take = (final: boolean): string => {
      const text = this.decode(ids);
      // A byte-fallback character may still be incomplete: hold back a trailing U+FFFD.
      const end = !final && text.endsWith("\uFFFD") ? text.length - 1 : text.length;
      if (end <= emitted) return "";
      const delta = text.slice(emitted, end);
      emitted = end;
      return delta;
    };
    return {
      push: (id) => {
        ids.push(id);
        return take(false);
      },
      flush: () => take(true),
    };
  }
}
