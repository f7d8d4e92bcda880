// USE-lite's weights, read straight from the package's TF.js weight shards (model.json's
// weightsManifest: names, shapes, dtypes, in shard order), without TF.js.

import { readFileSync } from "node:fs";
import path from "node:path";
import { RetrieverError, RetrieverErrorCode } from "../errors.js";
import { useLiteFiles } from "./package-files.js";

export interface NamedWeight {
  shape: number[];
  data: Float32Array | Int32Array;
}

interface Manifest {
  weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
}

export function readUseLiteWeights(dir: string = useLiteFiles().dir): Map<string, NamedWeight> {
  const manifest = JSON.parse(readFileSync(path.join(dir, "model.json"), "utf8")) as Manifest;
  const out = new Map<string, NamedWeight>();
  for (const group of manifest.weightsManifest) {
    const buf = Buffer.concat(group.paths.map((p) => readFileSync(path.join(dir, p))));
    // Copy into an aligned buffer so typed-array views need no particular offset.
    const aligned = new ArrayBuffer(buf.length);
    new Uint8Array(aligned).set(buf);
    let offset = 0;
    for (const w of group.weights) {
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (w.dtype !== "float32" && w.dtype !== "int32") {
        throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `USE-lite weight ${w.name} has unexpected dtype ${w.dtype}`);
      }
      const data = w.dtype === "float32" ? new Float32Array(aligned, offset, n) : new Int32Array(aligned, offset, n);
      out.set(w.name, { shape: w.shape, data });
      offset += n * 4;
    }
    if (offset !== buf.length) {
      throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `USE-lite weight shards hold ${buf.length} bytes, manifest says ${offset}`);
    }
  }
  return out;
}
