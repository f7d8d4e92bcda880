// Small, plain vector helpers on Float32Array (the reference for anything faster).

import { RetrieverError, RetrieverErrorCode } from "./errors.js";

export function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function norm(a: Float32Array): number {
  return Math.sqrt(dot(a, a));
}

/** a / |a|, in a new array; throws BAD_VECTOR for a zero or non-finite vector. */
export function normalized(a: Float32Array): Float32Array {
  const n = norm(a);
  if (!Number.isFinite(n) || n === 0) {
    throw new RetrieverError(RetrieverErrorCode.BAD_VECTOR, "cannot normalise a zero or non-finite vector");
  }
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! / n;
  return out;
}

/** Element-wise mean of equal-length vectors: (n) x (d) -> (d). */
export function mean(rows: readonly Float32Array[]): Float32Array {
  if (rows.length === 0) throw new RetrieverError(RetrieverErrorCode.BAD_VECTOR, "mean of no vectors");
  const d = rows[0]!.length;
  const acc = new Float64Array(d);
  for (const r of rows) {
    if (r.length !== d) throw new RetrieverError(RetrieverErrorCode.BAD_VECTOR, `vector of length ${r.length}, expected ${d}`);
    for (let i = 0; i < d; i++) acc[i]! += r[i]!;
  }
  const out = new Float32Array(d);
  for (let i = 0; i < d; i++) out[i] = acc[i]! / rows.length;
  return out;
}

/** Cosine similarity of two vectors of any length (1 for equal directions). */
export function cosine(a: Float32Array, b: Float32Array): number {
  return dot(a, b) / (norm(a) * norm(b));
}

/** Throws BAD_VECTOR unless `v` has `dimension` finite entries. */
export function checkVector(v: ArrayLike<number>, dimension: number): void {
  if (v.length !== dimension) {
    throw new RetrieverError(RetrieverErrorCode.BAD_VECTOR, `vector of length ${v.length}, expected ${dimension}`);
  }
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) throw new RetrieverError(RetrieverErrorCode.BAD_VECTOR, `vector entry ${i} is not finite`);
  }
}
