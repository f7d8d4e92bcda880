// Training the retriever head (paper section 4.1) on the frozen encoder's vectors of the
// training tasks' sample inputs, and nothing else: full-batch InfoNCE (infonce.ts) with Adam,
// seeded, so the same data and config give the same head bit for bit.

import { RetrieverError, RetrieverErrorCode } from "../errors.js";
import type { SentenceEncoder } from "../encoder.js";
import { applyHead, initHead, type HeadParameters } from "./head-model.js";
import { infoNceLoss } from "./infonce.js";
import { Rng } from "./rng.js";

export interface HeadTrainingConfig {
  /** Rank of the residual update B A. */
  rank: number;
  /** InfoNCE temperature. */
  temperature: number;
  /** L2 penalty on A and B (pulls the head back toward the identity). */
  weightDecay: number;
  steps: number;
  learningRate: number;
  seed: number;
}

/** Chosen on held-out training tasks only (docs/retriever.md, "Choosing the head's settings"). */
export const DEFAULT_HEAD_CONFIG: HeadTrainingConfig = {
  rank: 0,
  temperature: 0.05,
  weightDecay: 1e-2,
  steps: 100,
  learningRate: 2e-3,
  seed: 1,
};

/** Unit vectors of one task's sample inputs under the frozen encoder. */
export interface TaskVectors {
  task: string;
  vectors: Float32Array[];
}

/** Each task's sample inputs through the frozen encoder: trainHead's data. */
export async function encodeTaskSamples(
  encoder: Pick<SentenceEncoder, "encode">,
  tasks: readonly { name: string; samples: readonly string[] }[],
): Promise<TaskVectors[]> {
  const out: TaskVectors[] = [];
  for (const t of tasks) out.push({ task: t.name, vectors: (await encoder.encode(t.samples)).vectors });
  return out;
}

export interface TrainedHead {
  params: HeadParameters;
  config: HeadTrainingConfig;
  tasks: string[];
  /** Loss and leave-one-out accuracy on the training data, first and last step. */
  history: { step: number; loss: number; accuracy: number }[];
}

export function trainHead(data: readonly TaskVectors[], config: HeadTrainingConfig = DEFAULT_HEAD_CONFIG): TrainedHead {
  if (data.length < 2) throw new RetrieverError(RetrieverErrorCode.TRAINING_DATA_INVALID, `training needs at least 2 tasks, got ${data.length}`);
  const small = data.find((t) => t.vectors.length < 2);
  if (small) throw new RetrieverError(RetrieverErrorCode.TRAINING_DATA_INVALID, `task "${small.task}" has fewer than 2 samples`);
  const d = data[0]!.vectors[0]!.length;
  const n = data.reduce((s, t) => s + t.vectors.length, 0);
  const x = new Float64Array(n * d);
  const labels = new Int32Array(n);
  let row = 0;
  data.forEach((t, label) => {
    for (const v of t.vectors) {
      if (v.length !== d) throw new RetrieverError(RetrieverErrorCode.TRAINING_DATA_INVALID, `task "${t.task}": vector of length ${v.length}, expected ${d}`);
      x.set(v, row * d);
      labels[row++] = label;
    }
  });

  // Start from centring: c = -(mean of the training vectors).
  const shift = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) shift[j]! -= x[i * d + j]! / n;
  const params = initHead(d, config.rank, config.seed, shift);
  const adam = new Adam([params.a, params.b, params.c, params.s], config.learningRate);
  const history: TrainedHead["history"] = [];
  for (let step = 0; step < config.steps; step++) {
    const r = infoNceLoss(params, x, labels, data.length, config.temperature, config.weightDecay);
    if (step === 0 || step === config.steps - 1) history.push({ step, loss: r.loss, accuracy: r.accuracy });
    adam.step([r.gradA, r.gradB, r.gradC, r.gradS]);
  }
  return { params, config, tasks: data.map((t) => t.task), history };
}

class Adam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private t = 0;

  constructor(
    private readonly params: Float64Array[],
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
  }

  step(grads: Float64Array[]): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    this.params.forEach((p, k) => {
      const [g, m, v] = [grads[k]!, this.m[k]!, this.v[k]!];
      for (let i = 0; i < p.length; i++) {
        m[i] = this.beta1 * m[i]! + (1 - this.beta1) * g[i]!;
        v[i] = this.beta2 * v[i]! + (1 - this.beta2) * g[i]! * g[i]!;
        p[i]! -= (this.lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + this.eps);
      }
    });
  }
}

// -----------------------------------------------------------------------------------------
// Validation on held-out training tasks (the only data settings may be chosen on)
// -----------------------------------------------------------------------------------------

export interface HeldOutScores {
  /** Top-1 / top-3 (%) for held-out samples of tasks the head trained on. */
  seen: { top1: number; top3: number };
  /** The same for tasks the head never saw. */
  unseen: { top1: number; top3: number };
}

/**
 * Retrieval as the benchmark does it, on training-task data only: each task's prototype is
 * the normalised mean of its `prototypes` vectors; each `queries` vector asks for its task
 * among all prototypes. `transform` maps frozen vectors (identity = the untrained encoder).
 */
export function heldOutScores(
  prototypes: readonly TaskVectors[],
  queries: readonly TaskVectors[],
  seen: ReadonlySet<string>,
  transform: (v: Float32Array[]) => Float32Array[],
): HeldOutScores {
  const protos = prototypes.map((t) => {
    const vs = transform(t.vectors);
    const s = new Float64Array(vs[0]!.length);
    for (const v of vs) for (let j = 0; j < s.length; j++) s[j]! += v[j]!;
    const n = Math.sqrt(s.reduce((a, x) => a + x * x, 0));
    return s.map((x) => x / n);
  });
  const tally = { seen: [0, 0, 0], unseen: [0, 0, 0] };
  for (const q of queries) {
    const own = prototypes.findIndex((t) => t.task === q.task);
    const group = seen.has(q.task) ? tally.seen : tally.unseen;
    for (const v of transform(q.vectors)) {
      const scores = protos.map((p) => p.reduce((a, x, j) => a + x * v[j]!, 0));
      const rank = scores.filter((s) => s > scores[own]!).length;
      group[0]!++;
      if (rank < 1) group[1]!++;
      if (rank < 3) group[2]!++;
    }
  }
  const pct = (g: number[]) => ({ top1: (100 * g[1]!) / Math.max(g[0]!, 1), top3: (100 * g[2]!) / Math.max(g[0]!, 1) });
  return { seen: pct(tally.seen), unseen: pct(tally.unseen) };
}

export interface ValidationReport {
  folds: number;
  untrained: HeldOutScores;
  trained: HeldOutScores;
}

/**
 * k-fold over tasks, on training tasks only. Each task's samples are split once (seeded)
 * into prototype samples and query samples (`querySamples` of them). Each fold holds out
 * about 1/k of the tasks, trains on the prototype samples of the rest, and scores the query
 * samples of all tasks against all prototypes; results are averaged over folds. This mirrors
 * the benchmark: adapters embedded from samples the head may have trained on, queried with
 * inputs it never saw, from seen and unseen tasks.
 */
export function crossValidateHead(data: readonly TaskVectors[], config: HeadTrainingConfig, folds = 4, seed = 7, querySamples = 5): ValidationReport {
  const rng = new Rng(seed);
  const split = data.map((t) => {
    const order = rng.shuffle(t.vectors.map((_, i) => i));
    return {
      proto: { task: t.task, vectors: order.slice(querySamples).map((i) => t.vectors[i]!) },
      query: { task: t.task, vectors: order.slice(0, querySamples).map((i) => t.vectors[i]!) },
    };
  });
  const protos = split.map((s) => s.proto);
  const queries = split.map((s) => s.query);
  const taskOrder = rng.shuffle(data.map((_, i) => i));
  const acc = { untrained: zeroScores(), trained: zeroScores() };
  for (let f = 0; f < folds; f++) {
    const held = new Set(taskOrder.filter((_, i) => i % folds === f).map((i) => data[i]!.task));
    const train = protos.filter((t) => !held.has(t.task));
    const seen = new Set(train.map((t) => t.task));
    const head = trainHead(train, config);
    addScores(
      acc.untrained,
      heldOutScores(protos, queries, seen, (v) => v),
    );
    addScores(
      acc.trained,
      heldOutScores(protos, queries, seen, (v) => applyHead(head.params, v)),
    );
  }
  return { folds, untrained: scaleScores(acc.untrained, 1 / folds), trained: scaleScores(acc.trained, 1 / folds) };
}

function zeroScores(): HeldOutScores {
  return { seen: { top1: 0, top3: 0 }, unseen: { top1: 0, top3: 0 } };
}
function addScores(into: HeldOutScores, s: HeldOutScores): void {
  for (const g of ["seen", "unseen"] as const) {
    into[g].top1 += s[g].top1;
    into[g].top3 += s[g].top3;
  }
}
function scaleScores(s: HeldOutScores, f: number): HeldOutScores {
  const r = (x: number) => Math.round(x * f * 100) / 100;
  return { seen: { top1: r(s.seen.top1), top3: r(s.seen.top3) }, unseen: { top1: r(s.unseen.top1), top3: r(s.unseen.top3) } };
}
