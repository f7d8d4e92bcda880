// onnxruntime-node, loaded once, CPU execution provider only (stack notes: its CUDA binaries
// are never installed here). Sessions are created once per model and reused for every call:
// graph setup and optimisation happen at creation, not per query.

import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import type * as OrtTypes from "onnxruntime-node";
import { RetrieverError, RetrieverErrorCode } from "../errors.js";

const require = createRequire(import.meta.url);

export type Ort = typeof OrtTypes;
export type OrtSession = OrtTypes.InferenceSession;
export type OrtTensor = OrtTypes.Tensor;

let ort: Ort | undefined;

export function loadOrt(): Ort {
  if (!ort) {
    try {
      ort = require("onnxruntime-node") as Ort;
    } catch (err) {
      throw new RetrieverError(
        RetrieverErrorCode.ENCODER_FAILED,
        `onnxruntime-node could not be loaded (${(err as Error).message}); reinstall it with ONNXRUNTIME_NODE_INSTALL=skip for the CPU build`,
        { cause: err },
      );
    }
  }
  return ort;
}

/**
 * Threads for one session's operators: QUIVER_ENCODER_THREADS, else 1. One query's encoding
 * is small (about 0.7 GFLOP at 128 tokens); on a machine the engine and other requests share,
 * one thread per encode was faster at p50 and far steadier at p99 than all cores
 * (docs/benchmarks.md). Raise it on a machine that only encodes.
 */
export function encoderThreads(): number {
  const fromEnv = Number(process.env.QUIVER_ENCODER_THREADS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? Math.min(fromEnv, availableParallelism()) : 1;
}

/** A CPU session for a serialised model (bytes) or a model file (path). */
export async function createSession(model: Uint8Array | string, what: string): Promise<OrtSession> {
  const { InferenceSession } = loadOrt();
  const options: OrtTypes.InferenceSession.SessionOptions = {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
    intraOpNumThreads: encoderThreads(),
    interOpNumThreads: 1,
    executionMode: "sequential",
    // Failures come back as rejected promises (turned into coded errors); no console noise.
    logSeverityLevel: 4,
    // Idle worker threads sleep instead of spinning: on a shared, busy machine spinning
    // threads steal the cores the work needs.
    extra: { session: { intra_op: { allow_spinning: "0" } } },
  };
  try {
    return typeof model === "string" ? await InferenceSession.create(model, options) : await InferenceSession.create(model, options);
  } catch (err) {
    throw new RetrieverError(RetrieverErrorCode.ENCODER_FILE_MISMATCH, `onnxruntime could not load ${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** int64 tensor (rows, cols) from row-major numbers. */
export function int64Tensor(values: BigInt64Array, rows: number, cols: number): OrtTensor {
  return new (loadOrt().Tensor)("int64", values, [rows, cols]);
}

export function float32Tensor(values: Float32Array, dims: readonly number[]): OrtTensor {
  return new (loadOrt().Tensor)("float32", values, dims);
}

/** Splits a (n, d) float32 output into n row copies. */
export function rowsOf(t: OrtTensor): Float32Array[] {
  const [n, d] = t.dims as [number, number];
  const data = t.data as Float32Array;
  return Array.from({ length: n }, (_, i) => data.slice(i * d, (i + 1) * d));
}
