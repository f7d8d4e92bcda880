// stories260K (../shared/models, tests only) converted to a Hugging Face folder once per test
// file, and PEFT adapters shaped for it.
import { existsSync } from "node:fs";
import path from "node:path";
import { convertLlama2c } from "@quiver/engine";
import { writeSyntheticAdapter, type SyntheticModelSpec } from "../../native/src/synthetic.js";
import { repoRoot } from "./browser.js";
import { tempDir } from "./pool.js";

export const STORIES_DIR = path.resolve(repoRoot, "..", "shared", "models", "stories260K");

export function storiesSkipReason(): string | undefined {
  return existsSync(path.join(STORIES_DIR, "stories260K.bin")) ? undefined : `stories260K is not at ${STORIES_DIR}`;
}

export function convertStories(): string {
  const out = tempDir("stories");
  convertLlama2c(path.join(STORIES_DIR, "stories260K.bin"), path.join(STORIES_DIR, "tok512.bin"), out);
  return out;
}

export const STORIES_SPEC: SyntheticModelSpec = {
  vocab: 512,
  dim: 64,
  hidden: 172,
  layers: 5,
  heads: 8,
  kvHeads: 4,
  maxPos: 512,
  tied: true,
  dtype: "F32",
  seed: 0,
};

export function storiesAdapter(seed: number, rank = 4): string {
  const dir = tempDir("stories-adapter");
  writeSyntheticAdapter(dir, STORIES_SPEC, { rank, alpha: 8, rslora: false, modules: ["q_proj", "v_proj", "o_proj", "down_proj"], seed });
  return dir;
}
