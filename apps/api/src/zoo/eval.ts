// `quiver eval zoo`: the paper's Table 1 layout (LoraRetriever, ../shared/docs/paper.md) on
// the model zoo's held-out items. Retrieval is the serving path's: the configured sentence
// encoder, each adapter embedded as the normalised mean of its samples, the input embedded
// as is, cosine top-k (exact, in memory: what pgvector's exact search returns), mixture
// weights as given (`quiver eval zoo` passes the server's: QUIVER_MIXTURE_WEIGHTING, default
// softmax:0.05; uniform 1/k, the paper's, when none is given). IID retrieves over every zoo adapter;
// OOD leaves the item's own task adapter out (with `oodEncoders`, through a retriever that
// never saw the task either: leave-one-out.ts, `--strict-ood`). Every item is generated greedily under each
// column's composition, batched on the native engine with per-sample adapter mappings, and
// scored by exact match. Pure functions first (ranking, compositions, scoring, aggregation);
// runZooEval at the end wires them to the engine and the encoder.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { Engine, EngineError, type Device, type Strategy } from "@quiver/engine";
import { QuiverError } from "../errors.js";
import { ADAPTER_FAULTS } from "../model-host.js";
import { embedAdapter } from "../retriever/adapter-embedding.js";
import type { SentenceEncoder } from "../retriever/encoder.js";
import { RetrieverError } from "../retriever/errors.js";
import { formatWeighting, mixtureWeights, UNIFORM, type Weighting } from "../retriever/mixture-weights.js";
import { cosine } from "../retriever/vector-math.js";
import { generateBatched, type GenerationJob } from "./batch-generate.js";
import { readZooManifest, zooPath, type ZooManifest } from "./manifest.js";

/** Table 1's columns, in its order. */
export const COLUMNS = ["base", "perfect", "selectionIid", "selectionOod", "mixtureIid", "mixtureOod", "fusionIid", "fusionOod", "concatIid", "concatOod"] as const;
export type Column = (typeof COLUMNS)[number];
export type Scores = Record<Column, number>;

export type Split = "test" | "validation";

// ---------------------------------------------------------------- retrieval

export interface PoolEntry {
  task: string;
  /** (dimension) the adapter's retrieval embedding. */
  vector: Float32Array;
}

export interface Ranked {
  task: string;
  score: number;
}

/**
 * The k adapters nearest the query by cosine similarity, best first (ties by task name),
 * leaving out the task `exclude` (the OOD setting).
 */
export function rankAdapters(query: Float32Array, pool: readonly PoolEntry[], k: number, exclude?: string): Ranked[] {
  return pool
    .filter((p) => p.task !== exclude)
    .map((p) => ({ task: p.task, score: cosine(query, p.vector) }))
    .sort((a, b) => b.score - a.score || (a.task < b.task ? -1 : a.task > b.task ? 1 : 0))
    .slice(0, k);
}

// ---------------------------------------------------------------- compositions

export interface Composition {
  strategy: Strategy;
  adapters: { task: string; weight: number }[];
}

const NONE: Composition = { strategy: "none", adapters: [] };

/** Top-1 alone at weight 1; nothing retrieved means the base model (as the server does). */
function select(ranked: readonly Ranked[]): Composition {
  return ranked.length ? { strategy: "selection", adapters: [{ task: ranked[0]!.task, weight: 1 }] } : NONE;
}

/** The top-k with the server's mixture weights (uniform 1/k by default). */
function compose(strategy: Strategy, ranked: readonly Ranked[], weighting: Weighting): Composition {
  if (!ranked.length) return NONE;
  const w = mixtureWeights(ranked.map((r) => r.score), weighting);
  return { strategy, adapters: ranked.map((r, i) => ({ task: r.task, weight: w[i]! })) };
}

/**
 * Each column's composition for one item: `own` is the item's task, `iid` and `ood` its top-k
 * retrievals with and without the own adapter. fusion is the paper's averaging of A and B;
 * concat is the exact concatenation (engine "fusion-cat"), equal to mixture mathematically.
 */
export function columnCompositions(own: string, iid: readonly Ranked[], ood: readonly Ranked[], weighting: Weighting = UNIFORM): Record<Column, Composition> {
  return {
    base: NONE,
    perfect: { strategy: "selection", adapters: [{ task: own, weight: 1 }] },
    selectionIid: select(iid),
    selectionOod: select(ood),
    mixtureIid: compose("mixture", iid, weighting),
    mixtureOod: compose("mixture", ood, weighting),
    fusionIid: compose("fusion", iid, weighting),
    fusionOod: compose("fusion", ood, weighting),
    concatIid: compose("fusion-cat", iid, weighting),
    concatOod: compose("fusion-cat", ood, weighting),
  };
}

/** Equal keys mean equal greedy outputs, so each item generates each distinct composition once. */
export function compositionKey(c: Composition): string {
  return c.adapters.length ? `${c.strategy}:${c.adapters.map((a) => `${a.task}=${a.weight}`).join(",")}` : "none";
}

// ---------------------------------------------------------------- scoring

/** Exact match: the output and the answer, each trimmed of surrounding whitespace, are equal. */
export function exactMatch(output: string, answer: string): boolean {
  return output.trim() === answer.trim();
}

export interface ItemOutcome {
  task: string;
  cluster: string;
  input: string;
  answer: string;
  iid: Ranked[];
  ood: Ranked[];
  compositions: Record<Column, Composition>;
  outputs: Record<Column, string>;
  correct: Record<Column, boolean>;
}

function percentOf(items: readonly ItemOutcome[], c: Column): number {
  return (100 * items.filter((i) => i.correct[c]).length) / items.length;
}

function meanScores(rows: readonly Scores[]): Scores {
  return Object.fromEntries(COLUMNS.map((c) => [c, rows.reduce((a, r) => a + r[c], 0) / rows.length])) as Scores;
}

export interface Aggregate {
  /** Exact match in percent over each task's items. */
  byTask: Record<string, Scores & { cluster: string; items: number }>;
  /** Mean over the cluster's tasks (each task weighs the same). */
  byCluster: Record<string, Scores>;
  /** Mean over clusters of the per-cluster means. */
  average: Scores;
}

/** Task means, cluster means of task means, and the mean over clusters; `clusters` gives the order. */
export function aggregate(items: readonly ItemOutcome[], clusters: readonly string[]): Aggregate {
  const byTask: Aggregate["byTask"] = {};
  const tasks = [...new Set(items.map((i) => i.task))];
  for (const t of tasks) {
    const mine = items.filter((i) => i.task === t);
    byTask[t] = { cluster: mine[0]!.cluster, items: mine.length, ...(Object.fromEntries(COLUMNS.map((c) => [c, percentOf(mine, c)])) as Scores) };
  }
  const byCluster: Record<string, Scores> = {};
  for (const cl of clusters) {
    const rows = Object.values(byTask).filter((t) => t.cluster === cl);
    if (rows.length) byCluster[cl] = meanScores(rows);
  }
  const rows = Object.values(byCluster);
  if (!rows.length) throw new QuiverError("BAD_USER_INPUT", "no items to score");
  return { byTask, byCluster, average: meanScores(rows) };
}

export interface RetrievalHits {
  /** % of items whose top-1 adapter is their own task's / from their own cluster. */
  top1Task: number;
  top1Cluster: number;
  /** % of items with their own task's / cluster's adapter among the top k. */
  topkTask: number;
  topkCluster: number;
}

/** Hit rates of the IID and OOD retrievals (OOD task hits are 0 by construction). */
export function retrievalHits(items: readonly ItemOutcome[], clusterOf: ReadonlyMap<string, string>): { iid: RetrievalHits; ood: RetrievalHits } {
  const rate = (pick: (i: ItemOutcome) => boolean) => (100 * items.filter(pick).length) / items.length;
  const hits = (which: "iid" | "ood"): RetrievalHits => ({
    top1Task: rate((i) => i[which][0]?.task === i.task),
    top1Cluster: rate((i) => i[which][0] !== undefined && clusterOf.get(i[which][0].task) === i.cluster),
    topkTask: rate((i) => i[which].some((r) => r.task === i.task)),
    topkCluster: rate((i) => i[which].some((r) => clusterOf.get(r.task) === i.cluster)),
  });
  return { iid: hits("iid"), ood: hits("ood") };
}

// ---------------------------------------------------------------- the run

export interface ZooEvalOptions {
  dir: string;
  split: Split;
  k: number;
  /** Items per task (the split's first N); all when undefined. */
  limit?: number;
  device: Device;
  /** Tokens generated at most per item; default: the longest scored answer + MAX_TOKENS_MARGIN. */
  maxTokens?: number;
  /** Sequences per engine step. */
  batch: number;
  /** Mixture weights over the top k (default uniform 1/k, the paper's; the CLI passes the server's). */
  weighting?: Weighting;
  /** The retrieval encoder (the server's configured one: loadEncoder()); not closed here. */
  encoder: SentenceEncoder;
  /**
   * The encoder OOD retrieval uses for one task's items, instead of `encoder` (strict OOD:
   * leave-one-out.ts, a retriever that never saw the task); not closed here.
   */
  oodEncoders?: ReadonlyMap<string, SentenceEncoder>;
  log?: (line: string) => void;
}

export const MAX_TOKENS_MARGIN = 8;

export interface ZooEvalReport extends Aggregate {
  zoo: string;
  model: string;
  split: Split;
  k: number;
  encoder: string;
  /** "served": OOD retrieves through `encoder` too; "leave-one-out": through oodEncoders. */
  oodRetriever: "served" | "leave-one-out";
  /** Mixture weights over the top k: "uniform" or "softmax:T". */
  weighting: string;
  device: string;
  clusters: string[];
  tasks: number;
  items: number;
  maxTokens: number;
  /** Distinct (item, composition) generations run (columns that coincide share one). */
  generations: number;
  retrieval: { iid: RetrievalHits; ood: RetrievalHits };
  seconds: number;
  outcomes: ItemOutcome[];
}

const REBUILD = "Rebuild the zoo with `npx quiver train zoo`, or pass --zoo DIR.";

/** The manifest, with every adapter folder present; coded errors otherwise. */
export function openZoo(dir: string): ZooManifest {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new QuiverError("NOT_FOUND", `the zoo directory ${dir} does not exist`, { hint: REBUILD });
  const manifest = readZooManifest(dir);
  for (const t of manifest.tasks) {
    const folder = zooPath(dir, t.adapter);
    if (!existsSync(folder) || !statSync(folder).isDirectory())
      throw new QuiverError("NOT_FOUND", `task ${t.name}: its adapter folder ${folder} does not exist`, { hint: REBUILD });
  }
  return manifest;
}

export async function runZooEval(o: ZooEvalOptions): Promise<ZooEvalReport> {
  const started = performance.now();
  const log = o.log ?? (() => {});
  const dir = path.resolve(o.dir);
  const manifest = openZoo(dir);
  if (!(Number.isInteger(o.k) && o.k >= 1)) throw new QuiverError("BAD_USER_INPUT", "k must be a positive whole number");
  const picked = manifest.tasks.flatMap((t) => t[o.split].slice(0, o.limit ?? Infinity).map((item) => ({ task: t, item })));
  if (!picked.length) throw new QuiverError("BAD_USER_INPUT", `the zoo has no ${o.split} items`, { hint: REBUILD });
  const missingOod = o.oodEncoders && manifest.tasks.find((t) => !o.oodEncoders!.has(t.name));
  if (missingOod) throw new QuiverError("BAD_USER_INPUT", `no OOD retriever for task ${missingOod.name}`);

  const modelDir = zooPath(dir, manifest.model);
  let engine: Engine;
  try {
    engine = await Engine.open(modelDir, { device: o.device, adapterSlots: Math.min(64, Math.max(16, o.k, manifest.tasks.length)) });
  } catch (err) {
    const e = err as EngineError;
    throw new QuiverError("MODEL_UNAVAILABLE", `could not load the zoo's model at ${modelDir}: [${e.code ?? "ERROR"}] ${e.message}`, { hint: REBUILD, cause: err });
  }
  try {
    const tok = engine.tokenizer;
    if (!tok) throw new QuiverError("MODEL_UNAVAILABLE", `the zoo's model at ${modelDir} has no tokenizer.json`, { hint: REBUILD });
    if (o.k > engine.info.adapterSlots) throw new QuiverError("BAD_USER_INPUT", `k = ${o.k} is more than the engine's ${engine.info.adapterSlots} adapter slots`);
    if (engine.info.deviceNote) log(engine.info.deviceNote);

    // Adapters: the engine validates each against the model.
    const adapterId = new Map<string, number>();
    for (const t of manifest.tasks) {
      const folder = zooPath(dir, t.adapter);
      try {
        adapterId.set(t.name, await engine.loadAdapter(folder));
      } catch (err) {
        const e = err as EngineError;
        if (e instanceof EngineError && ADAPTER_FAULTS.has(e.code))
          throw new QuiverError("ADAPTER_INVALID", `task ${t.name}: the adapter at ${folder} does not fit the zoo's model: [${e.code}] ${e.message}`, {
            hint: `Is it an adapter for ${modelDir}? ${REBUILD}`,
            details: { reason: e.code },
          });
        throw err;
      }
    }

    // Retrieval embeddings, as the pool stores them.
    const embedPool = async (encoder: SentenceEncoder): Promise<PoolEntry[]> => {
      const pool: PoolEntry[] = [];
      for (const t of manifest.tasks) {
        try {
          pool.push({ task: t.name, vector: (await embedAdapter(encoder, t.samples)).vector });
        } catch (err) {
          if (err instanceof RetrieverError) throw new QuiverError("SAMPLES_INVALID", `task ${t.name}: ${err.message}`, { hint: REBUILD, details: { reason: err.code } });
          throw err;
        }
      }
      return pool;
    };
    const encodeInputs = async (encoder: SentenceEncoder, items: typeof picked): Promise<Float32Array[]> => {
      const out: Float32Array[] = [];
      for (let i = 0; i < items.length; i += 64) out.push(...(await encoder.encode(items.slice(i, i + 64).map((p) => p.item.input))).vectors);
      return out;
    };
    log(`embedding ${manifest.tasks.length} adapters (${o.encoder.identity})`);
    const pool = await embedPool(o.encoder);
    log(`encoding ${picked.length} ${o.split} inputs`);
    const queries = await encodeInputs(o.encoder, picked);
    // OOD: the same, or per task through the retriever that never saw it.
    const oodRanked: Ranked[][] = [];
    if (o.oodEncoders) {
      log(`OOD: embedding the pool and the inputs through ${manifest.tasks.length} leave-one-task-out retrievers`);
      const byTask = new Map<string, { pool: PoolEntry[]; queries: Map<number, Float32Array> }>();
      for (const t of manifest.tasks) {
        const encoder = o.oodEncoders.get(t.name)!;
        const mine = picked.flatMap((p, n) => (p.task.name === t.name ? [n] : []));
        const vectors = await encodeInputs(encoder, mine.map((n) => picked[n]!));
        byTask.set(t.name, { pool: await embedPool(encoder), queries: new Map(mine.map((n, i) => [n, vectors[i]!])) });
      }
      picked.forEach((p, n) => {
        const t = byTask.get(p.task.name)!;
        oodRanked.push(rankAdapters(t.queries.get(n)!, t.pool, o.k, p.task.name));
      });
    } else {
      picked.forEach((p, n) => oodRanked.push(rankAdapters(queries[n]!, pool, o.k, p.task.name)));
    }

    // Prompts and the token budget.
    const prompts = picked.map((p) => {
      const ids = tok.encodePrompt(p.item.input);
      return engine.info.bosTokenId >= 0 ? [engine.info.bosTokenId, ...ids] : ids;
    });
    const maxTokens = o.maxTokens ?? Math.max(...picked.map((p) => tok.encode(p.item.answer).length)) + MAX_TOKENS_MARGIN;
    prompts.forEach((ids, n) => {
      if (ids.length + maxTokens > engine.info.maxContext)
        throw new QuiverError("BAD_USER_INPUT", `task ${picked[n]!.task.name}: an input of ${ids.length} tokens plus ${maxTokens} to generate passes the model's context of ${engine.info.maxContext}`);
    });

    // Every item's compositions; each distinct one becomes one generation job.
    const jobs: GenerationJob[] = [];
    const jobOf: Array<Record<Column, number>> = [];
    const ranked = picked.map((p, n) => {
      const iid = rankAdapters(queries[n]!, pool, o.k);
      const ood = oodRanked[n]!;
      const comps = columnCompositions(p.task.name, iid, ood, o.weighting ?? UNIFORM);
      const seen = new Map<string, number>();
      jobOf.push(
        Object.fromEntries(
          COLUMNS.map((c) => {
            const key = compositionKey(comps[c]);
            let j = seen.get(key);
            if (j === undefined) {
              j = jobs.length;
              seen.set(key, j);
              jobs.push({ prompt: prompts[n]!, strategy: comps[c].strategy, adapters: comps[c].adapters.map((a) => ({ adapter: adapterId.get(a.task)!, weight: a.weight })) });
            }
            return [c, j];
          }),
        ) as Record<Column, number>,
      );
      return { iid, ood, comps };
    });

    log(`generating ${jobs.length} outputs (${picked.length} items x ${COLUMNS.length} columns, shared where equal), up to ${maxTokens} tokens each, on ${engine.info.device}`);
    const genStarted = performance.now();
    let lastLog = genStarted;
    const tokens = await generateBatched(engine, jobs, {
      maxTokens,
      maxBatch: o.batch,
      onProgress: (done, total) => {
        const now = performance.now();
        if (done === total || now - lastLog > 5000) {
          lastLog = now;
          const rate = done / ((now - genStarted) / 1000);
          log(`generated ${done} of ${total} (${rate.toFixed(1)}/s${done < total ? `, about ${Math.ceil((total - done) / rate)} s left` : ""})`);
        }
      },
    });
    const texts = tokens.map((t) => tok.decode(t));

    const outcomes: ItemOutcome[] = picked.map((p, n) => {
      const outputs = Object.fromEntries(COLUMNS.map((c) => [c, texts[jobOf[n]![c]]!])) as Record<Column, string>;
      return {
        task: p.task.name,
        cluster: p.task.cluster,
        input: p.item.input,
        answer: p.item.answer,
        iid: ranked[n]!.iid,
        ood: ranked[n]!.ood,
        compositions: ranked[n]!.comps,
        outputs,
        correct: Object.fromEntries(COLUMNS.map((c) => [c, exactMatch(outputs[c], p.item.answer)])) as Record<Column, boolean>,
      };
    });
    const clusterOf = new Map(manifest.tasks.map((t) => [t.name, t.cluster]));
    return {
      ...aggregate(outcomes, manifest.clusters.map((c) => c.name)),
      zoo: dir,
      model: modelDir,
      split: o.split,
      k: o.k,
      encoder: o.encoder.identity,
      oodRetriever: o.oodEncoders ? "leave-one-out" : "served",
      weighting: formatWeighting(o.weighting ?? UNIFORM),
      device: engine.info.device,
      clusters: manifest.clusters.map((c) => c.name),
      tasks: new Set(picked.map((p) => p.task.name)).size,
      items: picked.length,
      maxTokens,
      generations: jobs.length,
      retrieval: retrievalHits(outcomes, clusterOf),
      seconds: (performance.now() - started) / 1000,
      outcomes,
    };
  } finally {
    await engine.close();
  }
}

/** The --json object: scores rounded to 0.01, metadata, no per-item outcomes. */
export function zooEvalJson(r: ZooEvalReport): Record<string, unknown> {
  const round = (x: number) => Math.round(x * 100) / 100;
  const scores = (s: Scores) => Object.fromEntries(COLUMNS.map((c) => [c, round(s[c])]));
  const hits = (h: RetrievalHits) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, round(v)]));
  return {
    average: scores(r.average),
    byCluster: Object.fromEntries(Object.entries(r.byCluster).map(([c, s]) => [c, scores(s)])),
    byTask: Object.fromEntries(Object.entries(r.byTask).map(([t, s]) => [t, { cluster: s.cluster, items: s.items, ...scores(s) }])),
    zoo: r.zoo,
    model: r.model,
    split: r.split,
    k: r.k,
    encoder: r.encoder,
    oodRetriever: r.oodRetriever,
    weighting: r.weighting,
    device: r.device,
    tasks: r.tasks,
    items: r.items,
    maxTokens: r.maxTokens,
    generations: r.generations,
    retrieval: { iid: hits(r.retrieval.iid), ood: hits(r.retrieval.ood) },
    seconds: round(r.seconds),
  };
}
