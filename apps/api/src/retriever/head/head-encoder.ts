// The trained retriever as an encoder: the frozen base encoder, then the head exported as
// ONNX and run by onnxruntime. A head lives in a folder:
//   head.onnx   input "embedding" (batch, d) -> output "embedding_out" (batch, d), unit rows
//   head.json   { format, base (encoder identity), dimension, rank, sha256 of head.onnx, training }
// Its identity names both parts ("head:<sha256 prefix>@use-lite@0.2.0"), so the catalog keeps
// its vectors apart from the base encoder's.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { RetrieverError, RetrieverErrorCode } from "../errors.js";
import type { EncodeResult, SentenceEncoder } from "../encoder.js";
import { createSession, float32Tensor, rowsOf, type OrtSession } from "../onnx/ort.js";
import { headToOnnx } from "./head-model.js";
import type { TrainedHead } from "./train-head.js";

export const HEAD_FORMAT = "quiver-retriever-head";

export interface HeadManifest {
  format: typeof HEAD_FORMAT;
  version: 1;
  /** Identity of the encoder the head was trained on (it must run on that one). */
  base: string;
  dimension: number;
  rank: number;
  /** sha256 of head.onnx (hex). */
  sha256: string;
  training: { config: TrainedHead["config"]; tasks: string[]; history: TrainedHead["history"] };
}

/** Writes head.onnx and head.json into `dir`; returns the manifest. */
export function saveHead(dir: string, head: TrainedHead, baseIdentity: string): HeadManifest {
  const onnx = headToOnnx(head.params, { base: baseIdentity, format: HEAD_FORMAT });
  const manifest: HeadManifest = {
    format: HEAD_FORMAT,
    version: 1,
    base: baseIdentity,
    dimension: head.params.dimension,
    rank: head.params.rank,
    sha256: createHash("sha256").update(onnx).digest("hex"),
    training: { config: head.config, tasks: head.tasks, history: head.history },
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "head.onnx"), onnx);
  writeFileSync(path.join(dir, "head.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * A head folder's head.json, checked as a manifest (head.onnx is checked against it when the
 * head loads: readHead).
 */
export function readHeadManifest(dir: string): HeadManifest {
  const file = path.join(dir, "head.json");
  if (!existsSync(file)) throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISSING, `retriever head folder ${dir} lacks head.json`);
  let manifest: Partial<HeadManifest>;
  try {
    manifest = JSON.parse(readFileSync(file, "utf8")) as Partial<HeadManifest>;
  } catch (err) {
    throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `${file} is not valid JSON`, { cause: err });
  }
  if (manifest?.format !== HEAD_FORMAT || typeof manifest.base !== "string" || typeof manifest.sha256 !== "string") {
    throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `${file} is not a ${HEAD_FORMAT} manifest`);
  }
  return manifest as HeadManifest;
}

/** Reads and checks a head folder against the base encoder it will run on. */
export function readHead(dir: string, base: { identity: string; dimension: number }): { manifest: HeadManifest; onnx: Uint8Array } {
  if (!existsSync(path.join(dir, "head.onnx"))) {
    throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISSING, `retriever head folder ${dir} lacks head.onnx`);
  }
  const manifest = readHeadManifest(dir);
  const onnx = new Uint8Array(readFileSync(path.join(dir, "head.onnx")));
  const sha = createHash("sha256").update(onnx).digest("hex");
  if (sha !== manifest.sha256) {
    throw new RetrieverError(
      RetrieverErrorCode.ENCODER_FILE_MISMATCH,
      `${dir}/head.onnx does not match head.json (sha256 ${sha.slice(0, 12)} vs ${manifest.sha256.slice(0, 12)})`,
    );
  }
  if (manifest.base !== base.identity || manifest.dimension !== base.dimension) {
    throw new RetrieverError(
      RetrieverErrorCode.ENCODER_FILE_MISMATCH,
      `the head in ${dir} was trained on ${manifest.base} (${manifest.dimension}-d), not on ${base.identity} (${base.dimension}-d)`,
    );
  }
  return { manifest, onnx };
}

export class HeadEncoder implements SentenceEncoder {
  readonly kind = "head" as const;
  readonly identity: string;
  readonly name: string;
  readonly dimension: number;
  readonly prefix: string;
  readonly maxTokens: number;

  private constructor(
    /** The frozen encoder under the head. */
    readonly base: SentenceEncoder,
    private readonly session: OrtSession,
    readonly manifest: HeadManifest,
    private readonly ownsBase: boolean,
  ) {
    this.identity = `head:${manifest.sha256.slice(0, 16)}@${base.identity}`;
    this.name = `trained retriever head (rank ${manifest.rank}) on ${base.name}`;
    this.dimension = base.dimension;
    this.prefix = base.prefix;
    this.maxTokens = base.maxTokens;
  }

  /** Loads a head folder on top of `base`; close() closes `base` too when `ownsBase`. */
  static async load(dir: string, base: SentenceEncoder, options: { ownsBase?: boolean } = {}): Promise<HeadEncoder> {
    const { manifest, onnx } = readHead(dir, base);
    return new HeadEncoder(base, await createSession(onnx, `${dir}/head.onnx`), manifest, options.ownsBase ?? false);
  }

  /** Runs the head alone on base vectors: (n) x (d) -> (n) x (d). */
  async project(vectors: readonly Float32Array[]): Promise<Float32Array[]> {
    if (vectors.length === 0) return [];
    const d = this.dimension;
    const x = new Float32Array(vectors.length * d);
    vectors.forEach((v, i) => x.set(v, i * d));
    const out = await this.session.run({ embedding: float32Tensor(x, [vectors.length, d]) });
    return rowsOf(out.embedding_out!);
  }

  async encode(texts: readonly string[]): Promise<EncodeResult> {
    const { vectors, truncations } = await this.base.encode(texts);
    return { vectors: await this.project(vectors), truncations };
  }

  async close(): Promise<void> {
    await this.session.release();
    if (this.ownsBase) await this.base.close();
  }
}
