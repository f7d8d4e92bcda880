// The training objective (paper section 4.1: contrastive, positives from the same task,
// negatives from other tasks), in the form retrieval uses it: each sample is a query, each
// task is an "adapter" represented by the normalised mean of its samples' head outputs.
// InfoNCE over tasks, with the sample itself left out of its own task's prototype:
//   y_i = head(x_i)                                   (N, d) unit rows (head-model.ts)
//   P_u = normalize(sum_{j in u} y_j)                 other tasks' prototypes
//   P_i = normalize(sum_{j in t_i, j != i} y_j)       own task, leave-one-out
//   loss = mean_i -log softmax_u(<y_i, P_u> / tau)[t_i]  +  wd (|A|^2 + |B|^2 + |s - 1|^2)
// Gradients are derived by hand below; infonce.test.ts checks them against finite differences.

import { headPre, type HeadParameters } from "./head-model.js";

export interface LossResult {
  loss: number;
  /** Share of samples whose own task prototype scores highest (leave-one-out top-1). */
  accuracy: number;
  gradA: Float64Array;
  gradB: Float64Array;
  gradC: Float64Array;
  gradS: Float64Array;
}

/** Adds s * v[vo..vo+d) into out[oo..oo+d). */
function axpy(out: Float64Array, oo: number, s: number, v: Float64Array, vo: number, d: number): void {
  for (let j = 0; j < d; j++) out[oo + j]! += s * v[vo + j]!;
}

function dotAt(a: Float64Array, ao: number, b: Float64Array, bo: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[ao + j]! * b[bo + j]!;
  return s;
}

/**
 * x: (n, d) unit rows; labels: task index per row, 0..tasks-1, every task with >= 2 rows.
 */
export function infoNceLoss(p: HeadParameters, x: Float64Array, labels: Int32Array, tasks: number, tau: number, weightDecay: number): LossResult {
  const d = p.dimension;
  const r = p.rank;
  const n = labels.length;
  const { z, h } = headPre(p, x, n);

  // y = z / |z|
  const zNorm = new Float64Array(n);
  const y = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    zNorm[i] = Math.sqrt(dotAt(z, i * d, z, i * d, d));
    for (let j = 0; j < d; j++) y[i * d + j] = z[i * d + j]! / zNorm[i]!;
  }
  // Task sums S (tasks, d) and full prototypes P = S / |S|.
  const sums = new Float64Array(tasks * d);
  for (let i = 0; i < n; i++) axpy(sums, labels[i]! * d, 1, y, i * d, d);
  const sumNorm = new Float64Array(tasks);
  const proto = new Float64Array(tasks * d);
  for (let u = 0; u < tasks; u++) {
    sumNorm[u] = Math.sqrt(dotAt(sums, u * d, sums, u * d, d));
    for (let j = 0; j < d; j++) proto[u * d + j] = sums[u * d + j]! / sumNorm[u]!;
  }
  // Leave-one-out own prototypes: Q_i = S_t - y_i, P_i = Q_i / |Q_i|.
  const own = new Float64Array(n * d);
  const ownNorm = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = labels[i]!;
    let s = 0;
    for (let j = 0; j < d; j++) {
      const q = sums[t * d + j]! - y[i * d + j]!;
      own[i * d + j] = q;
      s += q * q;
    }
    ownNorm[i] = Math.sqrt(s);
    for (let j = 0; j < d; j++) own[i * d + j]! /= ownNorm[i]!;
  }

  // Logits, softmax, loss; g = dLoss/dsimilarity.
  let loss = 0;
  let correct = 0;
  const g = new Float64Array(n * tasks);
  const logits = new Float64Array(tasks);
  for (let i = 0; i < n; i++) {
    const t = labels[i]!;
    let max = -Infinity;
    for (let u = 0; u < tasks; u++) {
      logits[u] = (u === t ? dotAt(y, i * d, own, i * d, d) : dotAt(y, i * d, proto, u * d, d)) / tau;
      max = Math.max(max, logits[u]!);
    }
    let z0 = 0;
    for (let u = 0; u < tasks; u++) z0 += Math.exp(logits[u]! - max);
    loss += -(logits[t]! - max - Math.log(z0));
    let best = 0;
    for (let u = 0; u < tasks; u++) {
      if (logits[u]! > logits[best]!) best = u;
      g[i * tasks + u] = (Math.exp(logits[u]! - max) / z0 - (u === t ? 1 : 0)) / (tau * n);
    }
    if (best === t) correct++;
  }
  loss /= n;

  // dY: direct terms, then back through the prototypes.
  const dy = new Float64Array(n * d);
  const gProto = new Float64Array(tasks * d); // dLoss/dP_u, summed over anchors of other tasks
  const rOwn = new Float64Array(n * d); // dLoss/dQ_i for the leave-one-out prototypes
  const rSum = new Float64Array(tasks * d); // sum of rOwn over each task's rows
  for (let i = 0; i < n; i++) {
    const t = labels[i]!;
    for (let u = 0; u < tasks; u++) {
      const gi = g[i * tasks + u]!;
      if (u === t) {
        axpy(dy, i * d, gi, own, i * d, d);
        // dQ_i = (I - P_i P_i^T) (gi y_i) / |Q_i|
        const c = gi * dotAt(own, i * d, y, i * d, d);
        for (let j = 0; j < d; j++) rOwn[i * d + j] = (gi * y[i * d + j]! - c * own[i * d + j]!) / ownNorm[i]!;
        axpy(rSum, t * d, 1, rOwn, i * d, d);
      } else {
        axpy(dy, i * d, gi, proto, u * d, d);
        axpy(gProto, u * d, gi, y, i * d, d);
      }
    }
  }
  // dS_u = (I - P_u P_u^T) G_u / |S_u|, added to every row of task u.
  const dSum = new Float64Array(tasks * d);
  for (let u = 0; u < tasks; u++) {
    const c = dotAt(proto, u * d, gProto, u * d, d);
    for (let j = 0; j < d; j++) dSum[u * d + j] = (gProto[u * d + j]! - c * proto[u * d + j]!) / sumNorm[u]!;
  }
  for (let i = 0; i < n; i++) {
    const t = labels[i]!;
    axpy(dy, i * d, 1, dSum, t * d, d);
    // Row i is in every leave-one-out prototype of its task except its own.
    axpy(dy, i * d, 1, rSum, t * d, d);
    axpy(dy, i * d, -1, rOwn, i * d, d);
  }

  // Through the normalisation: dZ_i = (I - y_i y_i^T) dY_i / |z_i|; then z = x + B h, h = A x.
  const gradA = new Float64Array(r * d);
  const gradB = new Float64Array(d * r);
  const gradC = new Float64Array(d);
  const gradS = new Float64Array(d);
  const dz = new Float64Array(d);
  const dh = new Float64Array(r);
  for (let i = 0; i < n; i++) {
    const c = dotAt(y, i * d, dy, i * d, d);
    for (let j = 0; j < d; j++) dz[j] = (dy[i * d + j]! - c * y[i * d + j]!) / zNorm[i]!;
    for (let j = 0; j < d; j++) {
      gradC[j]! += dz[j]!;
      gradS[j]! += dz[j]! * x[i * d + j]!;
    }
    dh.fill(0);
    for (let j = 0; j < d; j++) {
      const dzj = dz[j]!;
      if (dzj === 0) continue;
      for (let k = 0; k < r; k++) {
        gradB[j * r + k]! += dzj * h[i * r + k]!;
        dh[k]! += p.b[j * r + k]! * dzj;
      }
    }
    for (let k = 0; k < r; k++) axpy(gradA, k * d, dh[k]!, x, i * d, d);
  }
  let reg = 0;
  for (let q = 0; q < gradA.length; q++) {
    reg += p.a[q]! * p.a[q]!;
    gradA[q]! += 2 * weightDecay * p.a[q]!;
  }
  for (let q = 0; q < gradB.length; q++) {
    reg += p.b[q]! * p.b[q]!;
    gradB[q]! += 2 * weightDecay * p.b[q]!;
  }
  for (let j = 0; j < d; j++) {
    reg += (p.s[j]! - 1) ** 2;
    gradS[j]! += 2 * weightDecay * (p.s[j]! - 1);
  }
  return { loss: loss + weightDecay * reg, accuracy: correct / n, gradA, gradB, gradC, gradS };
}
