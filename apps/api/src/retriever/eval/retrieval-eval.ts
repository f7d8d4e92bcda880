// The paper's retrieval benchmark (Table 2) run through Quiver's own path: every benchmark
// task becomes an ACTIVE adapter in the catalog, embedded as the normalised mean of its 20
// sample inputs and stored in pgvector; every test input is encoded and searched through the
// HNSW index (k = 5); accuracy = share of inputs whose own task's adapter is in the top k.
// Twice: with the frozen encoder ("untrained") and with a head trained here on the samples
// of train_tasks.txt only ("trained"). mixed_test.json is read for querying, never for
// training or choosing settings.

import { offlinePool } from "../../auth/policy.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { EmbeddingStore } from "../../catalog/embeddings.js";
import { checkSamples, samplesHash } from "../adapter-embedding.js";
import type { SentenceEncoder } from "../encoder.js";
import { HeadEncoder, saveHead, type HeadManifest } from "../head/head-encoder.js";
import { trainHead, encodeTaskSamples, DEFAULT_HEAD_CONFIG, type HeadTrainingConfig } from "../head/train-head.js";
import { mean, normalized } from "../vector-math.js";
import { accuracyReport, type AccuracyReport, type RankedQuery } from "./accuracy.js";
import type { BenchmarkTask, FlanMixed, TestInput } from "./flan-mixed.js";
import { latencyReport, type LatencyReport } from "./latency.js";

export interface RetrievalEvalOptions {
  data: FlanMixed;
  store: EmbeddingStore;
  /** The frozen encoder (the default: USE-lite). */
  base: SentenceEncoder;
  /** Add the 18 non-benchmark tasks to the pool as distractors. */
  withDistractors?: boolean;
  /** Only these tasks (CI slices); the default is all. */
  tasks?: ReadonlySet<string>;
  /** Evaluate this many test inputs, evenly spaced over the file (CI slices). */
  queryCount?: number;
  headConfig?: HeadTrainingConfig;
  /** Keep the exported head here (default: a temporary folder, removed afterwards). */
  headDir?: string;
  efSearch?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface EncoderEvalResult {
  encoderId: string;
  accuracy: AccuracyReport;
  latency: LatencyReport;
  /** Test inputs that were cut before encoding. */
  truncatedQueries: number;
}

export interface RetrievalEvalReport {
  untrained: EncoderEvalResult;
  trained: EncoderEvalResult;
  adapters: number;
  distractors: number;
  queries: number;
  seenTasks: string[];
  head: HeadManifest;
}

/** k for the search: the largest k the accuracy table reports. */
const SEARCH_K = 5;
const WARMUP_QUERIES = 20;

function pickQueries(test: readonly TestInput[], tasks: ReadonlySet<string>, count?: number): TestInput[] {
  const eligible = test.filter((q) => tasks.has(q.task));
  if (!count || count >= eligible.length) return eligible;
  return Array.from({ length: count }, (_, i) => eligible[Math.floor((i * eligible.length) / count)]!);
}

async function evaluateEncoder(
  encoder: SentenceEncoder,
  pool: { teamId: string; baseModelId: string; adapterIds: Map<string, string> },
  tasks: readonly BenchmarkTask[],
  queries: readonly TestInput[],
  seen: ReadonlySet<string>,
  options: RetrievalEvalOptions,
): Promise<EncoderEvalResult> {
  const { store, log } = options;
  await store.registerEncoder(encoder);
  // Adapters: normalised mean of their 20 samples (duplicates kept, as the paper's data has them).
  for (const t of tasks) {
    checkSamples(t.samples, { duplicates: "allow" });
    const { vectors } = await encoder.encode(t.samples);
    await store.upsertEmbedding({
      adapterId: pool.adapterIds.get(t.task)!,
      encoderId: encoder.identity,
      vector: normalized(mean(vectors)),
      samplesHash: samplesHash(t.samples),
    });
  }
  log?.(`  ${tasks.length} adapters embedded with ${encoder.identity}`);
  const scope = { pool: offlinePool(pool.teamId), baseModelId: pool.baseModelId };
  const byId = new Map([...pool.adapterIds].map(([name, id]) => [id, name]));

  // Warm-up on sample inputs (not test inputs): session setup, caches, JIT.
  for (const text of tasks.flatMap((t) => t.samples).slice(0, WARMUP_QUERIES)) {
    const { vectors } = await encoder.encode([text]);
    await store.search(encoder.identity, vectors[0]!, SEARCH_K, scope, { efSearch: options.efSearch });
  }

  const ranked: RankedQuery[] = [];
  const encodeMs: number[] = [];
  const searchMs: number[] = [];
  let truncatedQueries = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const { vectors, truncations } = await encoder.encode([q.input]);
    const t1 = performance.now();
    const hits = await store.search(encoder.identity, vectors[0]!, SEARCH_K, scope, { efSearch: options.efSearch });
    const t2 = performance.now();
    encodeMs.push(t1 - t0);
    searchMs.push(t2 - t1);
    if (truncations.length > 0) truncatedQueries++;
    ranked.push({ task: q.task, cluster: q.cluster, ranked: hits.map((h) => byId.get(h.adapterId) ?? h.name) });
  }
  log?.(`  ${queries.length} queries searched`);
  return { encoderId: encoder.identity, accuracy: accuracyReport(ranked, seen), latency: latencyReport(encodeMs, searchMs), truncatedQueries };
}

export async function runRetrievalEval(options: RetrievalEvalOptions): Promise<RetrievalEvalReport> {
  const { data, store, base, log } = options;
  const wanted = (t: BenchmarkTask) => (t.inBenchmark || options.withDistractors) && (!options.tasks || options.tasks.has(t.task));
  const tasks = data.tasks.filter(wanted);
  const benchmarkTasks = new Set(tasks.filter((t) => t.inBenchmark).map((t) => t.task));
  const queries = pickQueries(data.test, benchmarkTasks, options.queryCount);
  const seen = new Set([...data.trainTasks].filter((t) => benchmarkTasks.has(t)));
  log?.(`pool: ${benchmarkTasks.size} benchmark adapters + ${tasks.length - benchmarkTasks.size} distractors; ${queries.length} test inputs`);

  const pool = await store.createAdapterPool({ label: "flan-mixed retrieval eval", adapters: tasks.map((t) => ({ name: t.task, samples: t.samples })) });
  const headDir = options.headDir ?? mkdtempSync(path.join(tmpdir(), "quiver-head-"));
  try {
    log?.("untrained:");
    const untrained = await evaluateEncoder(base, pool, tasks, queries, seen, options);

    // Train the head on the frozen vectors of the training tasks' samples, and nothing else.
    const trainTasks = data.tasks.filter((t) => data.trainTasks.has(t.task)).map((t) => ({ name: t.task, samples: t.samples }));
    const trainData = await encodeTaskSamples(base, trainTasks);
    const head = trainHead(trainData, options.headConfig ?? DEFAULT_HEAD_CONFIG);
    const manifest = saveHead(headDir, head, base.identity);
    log?.(
      `trained: head on ${trainData.length} tasks (loss ${head.history[0]!.loss.toFixed(3)} -> ${head.history.at(-1)!.loss.toFixed(3)}), exported to ${headDir}/head.onnx`,
    );
    const headEncoder = await HeadEncoder.load(headDir, base);
    let trained: EncoderEvalResult;
    try {
      trained = await evaluateEncoder(headEncoder, pool, tasks, queries, seen, options);
    } finally {
      await headEncoder.close();
    }
    return {
      untrained,
      trained,
      adapters: benchmarkTasks.size,
      distractors: tasks.length - benchmarkTasks.size,
      queries: queries.length,
      seenTasks: [...seen],
      head: manifest,
    };
  } finally {
    await store.deleteAdapterPool(pool);
    if (!options.headDir) rmSync(headDir, { recursive: true, force: true });
  }
}

/** The JSON contract of `quiver eval retrieval --json` (accuracies in percent). */
export function evalJson(r: RetrievalEvalReport): object {
  return { untrained: r.untrained.accuracy, trained: r.trained.accuracy, latency: r.untrained.latency };
}
