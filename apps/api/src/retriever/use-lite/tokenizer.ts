// USE-lite's tokenizer: sentencepiece-style Viterbi segmentation over a scored vocabulary.
// It reproduces, id for id, the tokenizer of @energetic-ai/embeddings 0.2.0 (a port of
// Google's tfjs-models USE tokenizer), including its quirks, so that vectors match the
// reference graph exactly; tokenizer.test.ts checks that on the benchmark data. The
// package's version copies the rest of the string at every position (quadratic: 4.5 s for
// 32k characters); this one walks the trie in place (linear; pieces are at most 16 chars).
//
// Quirks kept on purpose: a best score of exactly 0 counts as "unset"; ties go to the
// later (shorter) candidate; backtracking steps by the UTF-16 length of the chosen piece;
// runs of unknown pieces (id 0) merge into one.

import type { UseLiteVocabulary } from "./package-files.js";

/** Word-start marker that replaces spaces (U+2581). */
const SEPARATOR = "\u2581";
/** Ids 0..5 are reserved (unknown, <s>, </s>, three extras) and never matched. */
const RESERVED = 6;

interface TrieNode {
  children: Map<string, TrieNode>;
  /** Token id when a piece ends here, else -1. */
  id: number;
  score: number;
}

function newNode(): TrieNode {
  return { children: new Map(), id: -1, score: 0 };
}

export class UseLiteTokenizer {
  private readonly root = newNode();
  /** UTF-16 length of each piece, by id (the backtracking step). */
  private readonly pieceLength: Int32Array;

  constructor(vocabulary: UseLiteVocabulary) {
    this.pieceLength = new Int32Array(vocabulary.length);
    vocabulary.forEach(([piece, score], id) => {
      this.pieceLength[id] = piece.length;
      if (id < RESERVED) return;
      let node = this.root;
      for (const ch of piece) {
        let next = node.children.get(ch);
        if (!next) {
          next = newNode();
          node.children.set(ch, next);
        }
        node = next;
      }
      node.id = id;
      node.score = score;
    });
  }

  /** Token ids for `input` (no special tokens added). */
  encode(input: string): number[] {
    const normalized = input.normalize("NFKC");
    const text = normalized.length > 0 ? SEPARATOR + normalized.replace(/ /g, SEPARATOR) : normalized;
    const symbols = Array.from(text); // code points
    const n = symbols.length;

    // Candidates ending at each position, in increasing start order: (start, id, score).
    const candStart: number[][] = Array.from({ length: n + 1 }, () => []);
    const candId: number[][] = Array.from({ length: n + 1 }, () => []);
    const candScore: number[][] = Array.from({ length: n + 1 }, () => []);
    for (let i = 0; i < n; i++) {
      let node = this.root.children.get(symbols[i]!);
      let found = false;
      for (let j = i; j < n && node; j++) {
        if (node.id >= 0) {
          candStart[j + 1]!.push(i);
          candId[j + 1]!.push(node.id);
          candScore[j + 1]!.push(node.score);
          found = true;
        }
        node = j + 1 < n ? node.children.get(symbols[j + 1]!) : undefined;
      }
      if (!found) {
        // Unknown symbol: a one-symbol piece with id 0 and score 0.
        candStart[i + 1]!.push(i);
        candId[i + 1]!.push(0);
        candScore[i + 1]!.push(0);
      }
    }

    const best = new Float64Array(n + 1);
    const words = new Int32Array(n + 1);
    for (let end = 1; end <= n; end++) {
      // Starts were pushed in ascending order, the order the reference visits them in.
      const starts = candStart[end]!;
      for (let k = 0; k < starts.length; k++) {
        const score = candScore[end]![k]! + best[starts[k]!]!;
        if (best[end] === 0 || score >= best[end]!) {
          best[end] = score;
          words[end] = candId[end]![k]!;
        }
      }
    }

    const reversed: number[] = [];
    for (let iter = n; iter > 0;) {
      const id = words[iter]!;
      reversed.push(id);
      iter -= this.pieceLength[id]!;
    }
    const merged: number[] = [];
    let previousUnknown = false;
    for (const id of reversed) {
      if (!(previousUnknown && id === 0)) merged.push(id);
      previousUnknown = id === 0;
    }
    return merged.reverse();
  }
}
