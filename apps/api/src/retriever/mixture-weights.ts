// Per-sample mixture weights over the k retrieved adapters (paper section 2: uniform 1/k;
// a softmax over the retrieval scores with a temperature as an option). Weights sum to 1.

import { RetrieverError, RetrieverErrorCode } from "./errors.js";

export type Weighting = { kind: "uniform" } | { kind: "softmax"; temperature: number };

export const UNIFORM: Weighting = { kind: "uniform" };

/** w_j for scores s_j: uniform 1/k, or softmax(s_j / T). */
export function mixtureWeights(scores: readonly number[], weighting: Weighting = UNIFORM): number[] {
  const k = scores.length;
  if (k === 0) return [];
  if (weighting.kind === "uniform") return scores.map(() => 1 / k);
  const t = weighting.temperature;
  if (!(typeof t === "number" && Number.isFinite(t) && t > 0)) {
    throw new RetrieverError(RetrieverErrorCode.BAD_REQUEST, `softmax temperature must be a positive number, got ${t}`);
  }
  const max = Math.max(...scores);
  const e = scores.map((s) => Math.exp((s - max) / t));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / z);
}

/** "uniform" or "softmax:T" (T > 0), as QUIVER_MIXTURE_WEIGHTING and `quiver eval zoo --weighting` take it. */
export function parseWeighting(spec: string): Weighting {
  if (spec === "uniform") return UNIFORM;
  const m = /^softmax:(\d+(?:\.\d+)?|\.\d+)$/.exec(spec);
  const t = m ? Number(m[1]) : NaN;
  if (!(t > 0)) throw new RetrieverError(RetrieverErrorCode.BAD_REQUEST, `mixture weighting must be "uniform" or "softmax:T" with T > 0, not "${spec}"`);
  return { kind: "softmax", temperature: t };
}

export function formatWeighting(w: Weighting): string {
  return w.kind === "uniform" ? "uniform" : `softmax:${w.temperature}`;
}
