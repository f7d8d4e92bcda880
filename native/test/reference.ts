// An independent reference of the engine's contract, in plain loops and float64: a Llama
// decoder (RMSNorm, Hugging Face rotary layout, grouped-query attention, SwiGLU) with a
// per-sample LoRA mapping and composition strategy. It shares no code with native/ and
// reads weights the way a reader of the formats would (see fixtures.ts).

export interface RefConfig {
  vocab: number;
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  theta: number;
}

export const MODULES = ["q", "k", "v", "o", "gate", "up", "down"] as const;
export type ModuleName = (typeof MODULES)[number];

export interface RefLayer {
  attnNorm: Float32Array; // (dim)
  q: Float32Array; // (heads*headDim, dim)
  k: Float32Array; // (kvHeads*headDim, dim)
  v: Float32Array; // (kvHeads*headDim, dim)
  o: Float32Array; // (dim, heads*headDim)
  ffnNorm: Float32Array; // (dim)
  gate: Float32Array; // (hidden, dim)
  up: Float32Array; // (hidden, dim)
  down: Float32Array; // (dim, hidden)
}

export interface RefModel {
  config: RefConfig;
  embed: Float32Array; // (vocab, dim)
  layers: RefLayer[];
  norm: Float32Array; // (dim)
  lmHead: Float32Array; // (vocab, dim)
}

/** One (layer, module) of an adapter: delta(x) = scale * B @ (A @ x). */
export interface RefLora {
  rank: number;
  scale: number;
  A: Float32Array; // (rank, in)
  B: Float32Array; // (out, rank)
}

/** Keyed by `${layer}.${module}`. */
export type RefAdapter = Map<string, RefLora>;

export type RefStrategy = "none" | "mixture" | "fusion" | "fusion-cat" | "selection";

export interface RefMapping {
  adapters: { adapter: RefAdapter; weight: number }[];
  strategy: RefStrategy;
}

/** y = W x for W (out, in). */
function matvec(W: ArrayLike<number>, x: number[], out: number): number[] {
  const inn = x.length;
  const y = new Array<number>(out).fill(0);
  for (let o = 0; o < out; o++) {
    let s = 0;
    for (let i = 0; i < inn; i++) s += W[o * inn + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: number[], w: Float32Array, eps: number): number[] {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]!);
}

/** The LoRA delta of one (layer, module) for input x under a sample's mapping. */
function loraDelta(map: RefMapping, layer: number, module: ModuleName, x: number[], out: number): number[] {
  const d = new Array<number>(out).fill(0);
  const key = `${layer}.${module}`;
  const add = (lora: RefLora, coef: number) => {
    const h = matvec(lora.A, x, lora.rank);
    const y = matvec(lora.B, h, out);
    for (let o = 0; o < out; o++) d[o]! += coef * lora.scale * y[o]!;
  };
  const list = map.adapters;
  switch (map.strategy) {
    case "none":
      break;
    case "selection": {
      const first = list[0]?.adapter.get(key);
      if (first) add(first, 1);
      break;
    }
    case "mixture":
    case "fusion-cat": // concatenation is exactly the mixture
      for (const { adapter, weight } of list) {
        const lora = adapter.get(key);
        if (lora) add(lora, weight);
      }
      break;
    case "fusion": {
      // The paper's parameter averaging: (sum_j w_j s_j B_j)(sum_j w_j A_j), ranks padded with zeros.
      const parts = list.map((p) => ({ lora: p.adapter.get(key), weight: p.weight })).filter((p) => p.lora);
      if (parts.length === 0) break;
      const r = Math.max(...parts.map((p) => p.lora!.rank));
      const inn = x.length;
      const Af = new Float64Array(r * inn);
      const Bf = new Float64Array(out * r);
      for (const { lora, weight } of parts) {
        const l = lora!;
        for (let k = 0; k < l.rank; k++) for (let i = 0; i < inn; i++) Af[k * inn + i]! += weight * l.A[k * inn + i]!;
        for (let o = 0; o < out; o++) for (let k = 0; k < l.rank; k++) Bf[o * r + k]! += weight * l.scale * l.B[o * l.rank + k]!;
      }
      const h = matvec(Af, x, r);
      const y = matvec(Bf, h, out);
      for (let o = 0; o < out; o++) d[o]! += y[o]!;
      break;
    }
  }
  return d;
}

/** A sequence's state: the K and V rows of every position, per layer. */
export class RefSequence {
  readonly k: number[][][] = []; // (layer, position, kv_dim)
  readonly v: number[][][] = []; // (layer, position, kv_dim)
  constructor(readonly model: RefModel) {
    for (let l = 0; l < model.config.layers; l++) {
      this.k.push([]);
      this.v.push([]);
    }
  }
  get length(): number {
    return this.k[0]!.length;
  }

  /** Feeds tokens one by one; returns the logits after the last one. */
  forward(tokens: number[], map: RefMapping): number[] {
    let logits: number[] = [];
    for (const t of tokens) logits = this.forwardOne(t, map);
    return logits;
  }

  private forwardOne(token: number, map: RefMapping): number[] {
    const { config: c, embed, layers } = this.model;
    const pos = this.length;
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    const proj = (W: Float32Array, x: number[], l: number, m: ModuleName, out: number) => {
      const y = matvec(W, x, out);
      const d = loraDelta(map, l, m, x, out);
      return y.map((v, i) => v + d[i]!);
    };
    let x = Array.from(embed.subarray(token * c.dim, (token + 1) * c.dim));
    for (let l = 0; l < c.layers; l++) {
      const L = layers[l]!;
      // attention block
      const xb = rmsnorm(x, L.attnNorm, c.eps);
      const q = proj(L.q, xb, l, "q", qDim);
      const k = proj(L.k, xb, l, "k", kvDim);
      const v = proj(L.v, xb, l, "v", kvDim);
      const half = c.headDim / 2;
      const rotate = (vec: number[], heads: number) => {
        for (let h = 0; h < heads; h++)
          for (let i = 0; i < half; i++) {
            const freq = 1 / Math.pow(c.theta, (2 * i) / c.headDim);
            const a = pos * freq;
            const x0 = vec[h * c.headDim + i]!;
            const x1 = vec[h * c.headDim + i + half]!;
            vec[h * c.headDim + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
            vec[h * c.headDim + i + half] = x1 * Math.cos(a) + x0 * Math.sin(a);
          }
      };
      rotate(q, c.heads);
      rotate(k, c.kvHeads);
      this.k[l]!.push(k);
      this.v[l]!.push(v);
      const att = new Array<number>(qDim).fill(0);
      const group = c.heads / c.kvHeads;
      for (let h = 0; h < c.heads; h++) {
        const kvh = Math.floor(h / group);
        const scores: number[] = [];
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let i = 0; i < c.headDim; i++) s += q[h * c.headDim + i]! * this.k[l]![t]![kvh * c.headDim + i]!;
          scores.push(s / Math.sqrt(c.headDim));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t <= pos; t++) for (let i = 0; i < c.headDim; i++) att[h * c.headDim + i]! += (e[t]! / sum) * this.v[l]![t]![kvh * c.headDim + i]!;
      }
      const o = proj(L.o, att, l, "o", c.dim);
      x = x.map((val, i) => val + o[i]!);
      // feed-forward block
      const xf = rmsnorm(x, L.ffnNorm, c.eps);
      const g = proj(L.gate, xf, l, "gate", c.hidden);
      const u = proj(L.up, xf, l, "up", c.hidden);
      const hmid = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const down = proj(L.down, hmid, l, "down", c.dim);
      x = x.map((val, i) => val + down[i]!);
    }
    return matvec(this.model.lmHead, rmsnorm(x, this.model.norm, c.eps), c.vocab);
  }
}

/** Largest |a - b| over the vector, and whether every element is within atol + rtol * |b|. */
export function compare(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number) {
  let maxDiff = 0;
  let ok = actual.length === expected.length;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    maxDiff = Math.max(maxDiff, d);
    if (!(d <= atol + rtol * Math.abs(expected[i]!))) ok = false;
  }
  return { ok, maxDiff };
}
