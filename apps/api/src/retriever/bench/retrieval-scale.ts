// The scale benchmark: N synthetic adapter vectors (default 100,000, 512-d like USE-lite) in
// the catalog, searched through the HNSW index with the same scoped query retrieval uses.
// Recall@10 is measured against the exact answer (the same query with index scans off), and
// search latency per query.
//
// Synthetic vectors are clustered, as real adapter embeddings are (tasks cluster by kind):
// `clusters` centres uniform on the sphere, each vector = normalize(centre + noise * g),
// g ~ N(0, I/d). Queries are fresh draws from the same mixture. Seeded.

import { offlinePool } from "../../auth/policy.js";
import type { EmbeddingStore } from "../../catalog/embeddings.js";
import { percentile } from "../eval/latency.js";
import { Rng } from "../head/rng.js";

export interface ScaleOptions {
  store: EmbeddingStore;
  count: number;
  dimension?: number;
  clusters?: number;
  /** Noise scale relative to the unit centre (0.6: neighbours within a cluster are close but distinct). */
  noise?: number;
  queries?: number;
  k?: number;
  efSearch?: readonly number[];
  seed?: number;
  log?: (line: string) => void;
}

export interface EfResult {
  efSearch: number;
  recallAt10: number;
  searchP50Ms: number;
  searchP99Ms: number;
}

export interface ScaleReport {
  count: number;
  dimension: number;
  queries: number;
  loadSeconds: number;
  indexBuildSeconds: number;
  exactP50Ms: number;
  /** The unforced plan of the scoped search names the HNSW index. */
  planUsesIndex: boolean;
  results: EfResult[];
}

function unitRows(rng: Rng, n: number, d: number, centres: Float32Array[] | undefined, noise: number): Float32Array[] {
  const s = noise / Math.sqrt(d);
  return Array.from({ length: n }, () => {
    const c = centres ? centres[Math.floor(rng.next() * centres.length)]! : undefined;
    const v = new Float32Array(d);
    let norm = 0;
    for (let j = 0; j < d; j++) {
      v[j] = (c ? c[j]! : 0) + (c ? s : 1) * rng.normal();
      norm += v[j]! * v[j]!;
    }
    norm = Math.sqrt(norm);
    for (let j = 0; j < d; j++) v[j]! /= norm;
    return v;
  });
}

export async function runScaleBench(o: ScaleOptions): Promise<ScaleReport> {
  const d = o.dimension ?? 512;
  const k = o.k ?? 10;
  const nQueries = o.queries ?? 200;
  const rng = new Rng(o.seed ?? 1);
  const centres = unitRows(rng, o.clusters ?? 1000, d, undefined, 1);
  const vectors = unitRows(rng, o.count, d, centres, o.noise ?? 0.6);
  const queries = unitRows(rng, nQueries, d, centres, o.noise ?? 0.6);
  const encoderId = `synthetic-${d}`;

  const t0 = performance.now();
  await o.store.registerEncoder({ identity: encoderId, kind: "synthetic", name: "synthetic clustered vectors", dimension: d, prefix: "" });
  const pool = await o.store.createAdapterPool({ label: "retrieval scale bench", adapters: vectors.map((_, i) => ({ name: `synthetic-${i}` })) });
  const ids = vectors.map((_, i) => pool.adapterIds.get(`synthetic-${i}`)!);
  const scope = { pool: offlinePool(pool.teamId), baseModelId: pool.baseModelId };
  let loadSeconds = 0;
  let indexBuildSeconds = 0;
  try {
    await o.store.withIndexRebuilt(d, async () => {
      await o.store.upsertEmbeddings(vectors.map((v, i) => ({ adapterId: ids[i]!, encoderId, vector: v, samplesHash: "synthetic" })));
      loadSeconds = (performance.now() - t0) / 1000;
      o.log?.(`${o.count} vectors loaded in ${loadSeconds.toFixed(1)} s; building the HNSW index`);
    });
    indexBuildSeconds = (performance.now() - t0) / 1000 - loadSeconds;
    o.log?.(`index built in ${indexBuildSeconds.toFixed(1)} s`);

    const plan = await o.store.explainSearch(encoderId, queries[0]!, k, scope);
    const exact: string[][] = [];
    const exactMs: number[] = [];
    for (const q of queries) {
      const t = performance.now();
      exact.push((await o.store.search(encoderId, q, k, scope, { exact: true })).map((h) => h.adapterId));
      exactMs.push(performance.now() - t);
    }
    o.log?.(`exact answers for ${nQueries} queries (p50 ${percentile(exactMs, 50).toFixed(1)} ms)`);

    const results: EfResult[] = [];
    for (const ef of o.efSearch ?? [40, 100, 200]) {
      for (const q of queries.slice(0, 10)) await o.store.search(encoderId, q, k, scope, { efSearch: ef }); // warm-up
      const ms: number[] = [];
      let hits = 0;
      for (let i = 0; i < queries.length; i++) {
        const t = performance.now();
        const got = await o.store.search(encoderId, queries[i]!, k, scope, { efSearch: ef });
        ms.push(performance.now() - t);
        const truth = new Set(exact[i]);
        hits += got.filter((h) => truth.has(h.adapterId)).length;
      }
      const r = {
        efSearch: ef,
        recallAt10: Math.round((10000 * hits) / (k * queries.length)) / 10000,
        searchP50Ms: round2(percentile(ms, 50)),
        searchP99Ms: round2(percentile(ms, 99)),
      };
      o.log?.(`ef_search ${ef}: recall@${k} ${r.recallAt10}, p50 ${r.searchP50Ms} ms, p99 ${r.searchP99Ms} ms`);
      results.push(r);
    }
    return {
      count: o.count,
      dimension: d,
      queries: nQueries,
      loadSeconds: round2(loadSeconds),
      indexBuildSeconds: round2(indexBuildSeconds),
      exactP50Ms: round2(percentile(exactMs, 50)),
      planUsesIndex: plan.includes(`AdapterEmbedding_hnsw_cosine_${d}`),
      results,
    };
  } finally {
    await o.store.deleteAdapterPool(pool);
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;
