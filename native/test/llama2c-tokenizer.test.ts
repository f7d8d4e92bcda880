// The tokenizer.json written by `convert llama2c` against llama2.c's own encoder, rewritten
// here from its description (tokens of UTF-8 characters after a dummy-prefix space, byte
// fallback for unknown characters, then repeatedly merge the adjacent pair whose merged
// piece has the best score, leftmost first): same ids for the same text.
import { readFileSync } from "node:fs";
import path from "node:path";

import { convertLlama2c, TextTokenizer } from "@quiver/engine";

import { STORIES_DIR, STORIES_PRESENT, tempDir } from "./cli.js";

function readTok512(file: string, vocab: number): { pieces: string[]; scores: number[] } {
  const buf = readFileSync(file);
  const pieces: string[] = [];
  const scores: number[] = [];
  let off = 4;
  for (let i = 0; i < vocab; i++) {
    scores.push(buf.readFloatLE(off));
    const len = buf.readInt32LE(off + 4);
    pieces.push(buf.subarray(off + 8, off + 8 + len).toString("utf8"));
    off += 8 + len;
  }
  return { pieces, scores };
}

function llama2cEncode(text: string, pieces: string[], scores: number[]): number[] {
  const index = new Map<string, number>();
  pieces.forEach((p, i) => {
    if (!index.has(p)) index.set(p, i);
  });
  const tokens: number[] = [];
  if (text.length > 0) tokens.push(index.get(" ")!);
  for (const ch of text) {
    const id = index.get(ch);
    if (id !== undefined) tokens.push(id);
    else for (const byte of Buffer.from(ch, "utf8")) tokens.push(byte + 3);
  }
  for (;;) {
    let best = -1e10;
    let at = -1;
    let bestId = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = index.get(pieces[tokens[i]!]! + pieces[tokens[i + 1]!]!);
      if (id !== undefined && scores[id]! > best) {
        best = scores[id]!;
        at = i;
        bestId = id;
      }
    }
    if (at < 0) return tokens;
    tokens.splice(at, 2, bestId);
  }
}

const TEXTS = [
  "Once upon a time, there was a little girl named Lily.",
  'She said, "I want to play with your ball, but I can\'t find it."\nThe end.',
  "  two leading spaces and a trailing one ",
  "Tom's dog ran to the park; it was 3:45pm!",
  "naïve café — ünïcödé ✓ 日本語 🙂",
  "tab\tand\nnewlines\n\nand punctuation?!..",
  "a",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "The big brown bear and the small white rabbit were best friends in the forest.",
];

if (!STORIES_PRESENT) console.log(`llama2.c tokenizer tests skipped: ${STORIES_DIR} is absent`);
(STORIES_PRESENT ? describe : describe.skip)("tokenizer.json from tok512.bin", () => {
  const { pieces, scores } = STORIES_PRESENT ? readTok512(path.join(STORIES_DIR, "tok512.bin"), 512) : { pieces: [], scores: [] };
  let tok: TextTokenizer;
  beforeAll(() => {
    const dir = tempDir("tok512");
    convertLlama2c(path.join(STORIES_DIR, "stories260K.bin"), path.join(STORIES_DIR, "tok512.bin"), dir);
    tok = TextTokenizer.load(dir);
  });

  test.each(TEXTS)("same ids as llama2.c for %j", (text) => {
    expect(tok.encode(text)).toEqual(llama2cEncode(text, pieces, scores));
  });

  test("decoding gives the text back (byte-fallback pieces such as <0x0A> become bytes)", () => {
    for (const text of TEXTS) expect(tok.decode(tok.encode(text))).toBe(text);
    expect(pieces[13]).toBe("<0x0A>");
    expect(tok.decode([13])).toBe("\n");
  });
});
