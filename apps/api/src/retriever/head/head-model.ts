// The trained retriever's projection head: a shift plus a low-rank residual map on the frozen
// encoder's unit vectors, normalised again.
//   y = normalize(s * x + c + B (A x))   x (d), s (d), c (d), A (r, d), B (d, r), y (d)
// (s * x element-wise). It starts as y = normalize(x - mean of the training samples' vectors)
// (s = 1, c = -mean, B = 0):
// centring alone removes the direction every text shares, which sentence encoders are known
// to over-weight; InfoNCE then trains s, c, A and B, with weight decay on A, B and s - 1 pulling the map
// back toward that start (what keeps unseen tasks from getting worse). This file
// holds the parameters, the plain forward pass (the reference the ONNX export must match),
// and the ONNX export.

import { OnnxGraph } from "../onnx/onnx-model.js";
import { Rng } from "./rng.js";

export interface HeadParameters {
  /** Encoder output size. */
  dimension: number;
  rank: number;
  /** (rank, dimension), row-major. */
  a: Float64Array;
  /** (dimension, rank), row-major. */
  b: Float64Array;
  /** (dimension) shift. */
  c: Float64Array;
  /** (dimension) per-dimension scale. */
  s: Float64Array;
}

/** A fresh head: A ~ N(0, 1/d), B = 0, c = shift (default 0: the identity map). */
export function initHead(dimension: number, rank: number, seed: number, shift?: Float64Array): HeadParameters {
  const rng = new Rng(seed);
  const a = new Float64Array(rank * dimension);
  const scale = 1 / Math.sqrt(dimension);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal() * scale;
  return {
    dimension,
    rank,
    a,
    b: new Float64Array(dimension * rank),
    c: shift ? Float64Array.from(shift) : new Float64Array(dimension),
    s: new Float64Array(dimension).fill(1),
  };
}

/** Pre-normalisation output z = s * x + c + B (A x) for rows of X: (n, d) -> (n, d); also returns h = A x (n, r). */
export function headPre(p: HeadParameters, x: Float64Array | Float32Array, n: number): { z: Float64Array; h: Float64Array } {
  const { dimension: d, rank: r, a, b, c, s: scale } = p;
  const h = new Float64Array(n * r);
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const xo = i * d;
    for (let k = 0; k < r; k++) {
      let s = 0;
      const ao = k * d;
      for (let j = 0; j < d; j++) s += a[ao + j]! * x[xo + j]!;
      h[i * r + k] = s;
    }
    for (let j = 0; j < d; j++) {
      let s = scale[j]! * x[xo + j]! + c[j]!;
      const bo = j * r;
      for (let k = 0; k < r; k++) s += b[bo + k]! * h[i * r + k]!;
      z[xo + j] = s;
    }
  }
  return { z, h };
}

/** The head applied to unit vectors: (n) x (d) -> (n) x (d), unit length. */
export function applyHead(p: HeadParameters, vectors: readonly Float32Array[]): Float32Array[] {
  const d = p.dimension;
  const x = new Float64Array(vectors.length * d);
  vectors.forEach((v, i) => x.set(v, i * d));
  const { z } = headPre(p, x, vectors.length);
  return vectors.map((_, i) => {
    const row = z.subarray(i * d, (i + 1) * d);
    const n = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    return Float32Array.from(row, (v) => v / n);
  });
}

/**
 * ONNX model: input "embedding" (batch, d) float32 -> output "embedding_out" (batch, d),
 *   y = normalize(s * x + c + (x A^T) B^T)
 */
export function headToOnnx(p: HeadParameters, metadata: Record<string, string>): Uint8Array {
  const { dimension: d, rank: r } = p;
  const g = new OnnxGraph("retriever_head");
  const x = g.input("embedding", "float32", ["batch", d]);
  // A^T (d, r) and B^T (r, d) as row-major float32.
  const at = new Float32Array(d * r);
  const bt = new Float32Array(r * d);
  for (let k = 0; k < r; k++) {
    for (let j = 0; j < d; j++) {
      at[j * r + k] = p.a[k * d + j]!;
      bt[k * d + j] = p.b[j * r + k]!;
    }
  }
  const shifted = g.op("Add", [g.op("Mul", [x, g.f32("s", [d], Float32Array.from(p.s))]), g.f32("c", [d], Float32Array.from(p.c))]);
  // Rank 0 (a purely element-wise head) has no low-rank branch.
  const z = r === 0 ? shifted : g.op("Add", [shifted, g.op("MatMul", [g.op("MatMul", [x, g.f32("A_t", [d, r], at)]), g.f32("B_t", [r, d], bt)])]); // (batch, d)
  const norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [z, z]), g.i64("axis1", [1])], { keepdims: { i: 1 } })]);
  const y = g.op("Div", [z, g.op("Max", [norm, g.f32("tiny", [], [1e-12])])]);
  g.output(y, "embedding_out", "float32", ["batch", d]);
  return g.toBytes({ doc: "Quiver retriever head: y = normalize(s * x + c + B A x)", metadata });
}
