// Runs continuous-batching scenarios on the engine and on the TypeScript reference side by
// side: samples join at different steps, prefill in one or two chunks, then decode; every
// step's logits of every item are compared with the reference.
import type { Engine, LoraKernel, Strategy } from "@quiver/engine";

import { rng } from "./fixtures.js";
import { compare, RefSequence, type RefAdapter, type RefModel } from "./reference.js";

/** Logits tolerance of the parity tests: |engine - reference| <= ATOL + RTOL * |reference|. */
export const ATOL = 2e-4;
export const RTOL = 1e-4;

export interface Pool {
  ids: number[]; // engine adapter ids
  refs: RefAdapter[]; // the same adapters for the reference
}

export interface SampleSpec {
  /** Indexes into the pool, with weights. */
  mapping: { index: number; weight: number }[];
  strategy: Strategy;
  promptLength: number;
  /** Prefill in two chunks instead of one. */
  splitPrefill?: boolean;
  decodeSteps: number;
  /** The step at which the sample joins the batch. */
  joinAt: number;
}

export interface ScenarioResult {
  maxDiff: number;
  failures: string[];
  /** logits of each sample's every step, for batch-invariance checks */
  logits: Float32Array[][];
  /** the largest |with adapters - base| seen, to show adapters mattered */
  rows: number;
}

export async function runScenario(
  engine: Engine,
  model: RefModel,
  pool: Pool,
  samples: SampleSpec[],
  opts: { seed: number; kernel?: LoraKernel } = { seed: 1 },
): Promise<ScenarioResult> {
  const r = rng(opts.seed);
  const vocab = model.config.vocab;
  const token = () => Math.floor(((r() + 1) / 2) * vocab) % vocab;
  // Each sample's token chunks: the prefill (one or two chunks), then one token per decode step.
  const plans = samples.map((s) => {
    const prompt = Array.from({ length: s.promptLength }, token);
    const cut = s.splitPrefill ? Math.max(1, Math.floor(s.promptLength / 2)) : s.promptLength;
    const chunks = [prompt.slice(0, cut)];
    if (cut < prompt.length) chunks.push(prompt.slice(cut));
    for (let d = 0; d < s.decodeSteps; d++) chunks.push([token()]);
    return chunks;
  });
  const seqs = await Promise.all(samples.map(() => engine.createSequence()));
  const refs = samples.map(() => new RefSequence(model));
  const next = samples.map(() => 0);
  const result: ScenarioResult = { maxDiff: 0, failures: [], logits: samples.map(() => []), rows: 0 };
  for (let stepNo = 0; ; stepNo++) {
    const active = samples.map((s, i) => i).filter((i) => samples[i]!.joinAt <= stepNo && next[i]! < plans[i]!.length);
    if (active.length === 0 && samples.every((s, i) => next[i]! >= plans[i]!.length)) break;
    if (active.length === 0) continue;
    const items = active.map((i) => ({
      sequence: seqs[i]!,
      tokens: plans[i]![next[i]!]!,
      strategy: samples[i]!.strategy,
      adapters: samples[i]!.mapping.map((m) => ({ adapter: pool.ids[m.index]!, weight: m.weight })),
      sample: false,
    }));
    const out = await engine.step(items, { logits: true, kernel: opts.kernel ?? "gather" });
    active.forEach((i, k) => {
      const res = out.results[k]!;
      if (!res.ok) {
        result.failures.push(`sample ${i} step ${stepNo}: ${res.error?.code} ${res.error?.message}`);
        return;
      }
      const mapping = {
        strategy: samples[i]!.strategy,
        adapters: samples[i]!.mapping.map((m) => ({ adapter: pool.refs[m.index]!, weight: m.weight })),
      };
      const expected = refs[i]!.forward(plans[i]![next[i]!]!, mapping);
      const got = out.logits!.subarray(k * vocab, (k + 1) * vocab);
      result.logits[i]!.push(Float32Array.from(got));
      const c = compare(got, expected, ATOL, RTOL);
      result.maxDiff = Math.max(result.maxDiff, c.maxDiff);
      result.rows += 1;
      if (!c.ok) result.failures.push(`sample ${i} step ${stepNo}: logits differ by up to ${c.maxDiff}`);
    });
    active.forEach((i) => next[i]!++);
  }
  await Promise.all(seqs.map((s) => engine.freeSequence(s)));
  return result;
}

/** Adapter indexes for k adapters per sample drawn from a pool of n by a popularity law. */
export function drawMappings(popularity: "distinct" | "identical" | "zipf", samples: number, k: number, n: number, seed: number): number[][] {
  const r = rng(seed);
  const uniform = () => (r() + 1) / 2;
  const zipfWeights = Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const total = zipfWeights.reduce((a, b) => a + b, 0);
  const zipf = () => {
    let u = uniform() * total;
    for (let i = 0; i < n; i++) {
      u -= zipfWeights[i]!;
      if (u <= 0) return i;
    }
    return n - 1;
  };
  return Array.from({ length: samples }, (_, s) => {
    const picked: number[] = [];
    for (let j = 0; picked.length < k; j++) {
      const idx = popularity === "identical" ? j % n : popularity === "distinct" ? (s * k + j) % n : zipf();
      if (!picked.includes(idx)) picked.push(idx);
    }
    return picked;
  });
}
