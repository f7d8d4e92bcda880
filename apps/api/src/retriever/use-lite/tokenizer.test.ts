/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";
import { UseLiteTokenizer } from "./tokenizer.js";
import { readUseLiteVocabulary } from "./package-files.js";
import { flanMixedDir } from "../../../../../test/retriever/flan-mixed-path.js";

const require = createRequire(import.meta.url);

// The reference: the tokenizer inside @energetic-ai/embeddings (quadratic, so inputs here
// stay short).
function referenceTokenizer(): { encode(s: string): number[] } {
  const { EmbeddingsModel } = require("@energetic-ai/embeddings") as {
    EmbeddingsModel: new (d: { vocabulary: unknown; model: unknown }) => { tokenizer: { encode(s: string): number[] } };
  };
  return new EmbeddingsModel({ vocabulary: readUseLiteVocabulary(), model: null }).tokenizer;
}

describe("UseLiteTokenizer", () => {
  const vocabulary = readUseLiteVocabulary();
  const ours = new UseLiteTokenizer(vocabulary);
  const ref = referenceTokenizer();

  test("matches the package tokenizer on edge cases", () => {
    const cases = [
      "hello world",
      "Hello,  World!!  ",
      "  leading and trailing  ",
      "new\nlines\tand\ttabs",
      "ünïcödé café naïve",
      "emoji 😀 and 🤖🤖 robots",
      "中文字符和日本語のテキスト",
      "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ",
      "x",
      "\u2581already marked",
      "qqqqqqqq zzzzzz xxxxx",
      "a".repeat(300),
    ];
    for (const c of cases) expect(ours.encode(c)).toEqual(ref.encode(c));
  });

  test("matches the package tokenizer on the benchmark texts (first 1,000 characters)", () => {
    const dir = flanMixedDir();
    if (!dir) return;
    const tasks = JSON.parse(readFileSync(path.join(dir, "task_samples.json"), "utf8")) as Array<{
      samples: Array<{ inputs: string }>;
    }>;
    const test = JSON.parse(readFileSync(path.join(dir, "mixed_test.json"), "utf8")) as Array<{ inputs: string }>;
    // Every sample and every fifth test input (all of them take ~1 min with the reference).
    const texts = [...tasks.flatMap((t) => t.samples.map((s) => s.inputs)), ...test.filter((_, i) => i % 5 === 0).map((t) => t.inputs)];
    let mismatches = 0;
    for (const t of texts) {
      const s = t.slice(0, 1000);
      if (JSON.stringify(ours.encode(s)) !== JSON.stringify(ref.encode(s))) mismatches++;
    }
    expect(texts.length).toBeGreaterThan(1500);
    expect(mismatches).toBe(0);
  });

  test("is linear: 32k characters tokenize in well under a second", () => {
    const long = "The quick brown fox jumps over the lazy dog. ".repeat(730);
    const t0 = performance.now();
    const ids = ours.encode(long);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(ids.length).toBeGreaterThan(5000);
  });
});
