// The catalog side of retrieval: encoders, adapter embeddings (pgvector), k-NN search with
// access filters, re-embedding job progress. All of the retriever's SQL lives here.
//
// Vectors sit in one untyped `vector` column with their `dimension`; each dimension has a
// partial HNSW expression index (cosine):
//   CREATE INDEX ... USING hnsw ((embedding::vector(D)) vector_cosine_ops) WHERE dimension = D
// and every search repeats that expression and predicate with D as a literal, so the planner
// can use it. D = 512 (USE-lite) comes with the first migration; ensureDimensionIndex() adds
// others when an encoder of another size is registered.

import pgvector from "pgvector";
import { Prisma, type PrismaClient } from "./generated/client.js";
import type { PoolOwner } from "../auth/policy.js";
import { poolSql } from "./scope-sql.js";

export interface EncoderRecord {
  id: string;
  kind: string;
  name: string;
  dimension: number;
  prefix: string;
  active: boolean;
}

export interface EncoderInput {
  identity: string;
  kind: string;
  name: string;
  dimension: number;
  prefix: string;
}

export interface EmbeddingInput {
  adapterId: string;
  encoderId: string;
  /** (dimension) */
  vector: Float32Array | readonly number[];
  samplesHash: string;
}

/** Whose retrieval pool is searched (auth/policy.ts: the team's own ACTIVE adapters and the PUBLIC ones it added). */
export interface SearchScope {
  pool: PoolOwner;
  baseModelId: string;
  /** Adapters to leave out (the paper's OOD setting, or ones the caller already holds). */
  exclude?: readonly string[];
}

export interface SearchOptions {
  /** HNSW candidate list size (pgvector's hnsw.ef_search); default 100. */
  efSearch?: number;
  /** Skip the index: exact distances over every row (recall references, tests). */
  exact?: boolean;
}

export interface SearchHit {
  adapterId: string;
  name: string;
  /** Cosine similarity, 1 - cosine distance. */
  score: number;
}

export type JobStatus = "QUEUED" | "RUNNING" | "DONE" | "FAILED" | "CANCELLED";

export interface EmbeddingJobRecord {
  id: string;
  encoderId: string;
  status: JobStatus;
  total: number;
  done: number;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface AdapterSamples {
  adapterId: string;
  /** Sample texts in position order. */
  samples: string[];
}

/** pgvector caps indexed vectors at 2,000 dimensions for HNSW on `vector`. */
const MAX_INDEXED_DIMENSION = 2000;
const DEFAULT_EF_SEARCH = 100;

function dimensionLiteral(dimension: number): Prisma.Sql {
  if (!Number.isInteger(dimension) || dimension < 1 || dimension > MAX_INDEXED_DIMENSION) {
    throw new RangeError(`embedding dimension must be an integer in 1..${MAX_INDEXED_DIMENSION}, got ${dimension}`);
  }
  return Prisma.raw(String(dimension));
}

function vectorText(v: Float32Array | readonly number[]): string {
  return pgvector.toSql(Array.from(v)) as string;
}

function indexName(dimension: number): string {
  return `AdapterEmbedding_hnsw_cosine_${dimension}`;
}

const encoderFields = { id: true, kind: true, name: true, dimension: true, prefix: true, active: true } as const;

export class EmbeddingStore {
  constructor(private readonly prisma: PrismaClient) {}

  // ---------------------------------------------------------------------------------------
  // Encoders
  // ---------------------------------------------------------------------------------------

  /** Records an encoder (idempotent) and makes sure its dimension has an HNSW index. */
  async registerEncoder(e: EncoderInput): Promise<EncoderRecord> {
    await this.ensureDimensionIndex(e.dimension);
    return this.prisma.encoder.upsert({
      where: { id: e.identity },
      create: { id: e.identity, kind: e.kind, name: e.name, dimension: e.dimension, prefix: e.prefix },
      update: {},
      select: encoderFields,
    });
  }

  getEncoder(id: string): Promise<EncoderRecord | null> {
    return this.prisma.encoder.findUnique({ where: { id }, select: encoderFields });
  }

  /** The encoder retrieval queries use now, if any. */
  activeEncoder(): Promise<EncoderRecord | null> {
    return this.prisma.encoder.findFirst({ where: { active: true }, select: encoderFields });
  }

  /** Makes `id` the one active encoder, in one transaction. */
  async activateEncoder(id: string): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.encoder.updateMany({ where: { active: true, NOT: { id } }, data: { active: false } }),
      this.prisma.encoder.update({ where: { id }, data: { active: true } }),
    ]);
  }

  /** Creates the partial HNSW cosine index for `dimension` when it is missing. */
  async ensureDimensionIndex(dimension: number): Promise<void> {
    const d = dimensionLiteral(dimension);
    await this.prisma.$executeRaw`CREATE INDEX IF NOT EXISTS ${Prisma.raw(`"${indexName(dimension)}"`)}
      ON "AdapterEmbedding" USING hnsw ((embedding::vector(${d})) vector_cosine_ops) WHERE dimension = ${d}`;
  }

  /**
   * Drops the dimension's index for a bulk load and builds it again after (much faster than
   * inserting into a live HNSW graph). For benchmarks and first loads; searches fall back to
   * exact scans meanwhile.
   */
  async withIndexRebuilt<T>(dimension: number, load: () => Promise<T>, buildMemory = "1GB"): Promise<T> {
    dimensionLiteral(dimension);
    await this.prisma.$executeRaw`DROP INDEX IF EXISTS ${Prisma.raw(`"${indexName(dimension)}"`)}`;
    const result = await load();
    if (!/^\d+(kB|MB|GB)$/.test(buildMemory)) throw new RangeError(`bad memory size ${buildMemory}`);
    await this.prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT set_config('maintenance_work_mem', ${buildMemory}, true)`;
        const d = dimensionLiteral(dimension);
        await tx.$executeRaw`CREATE INDEX ${Prisma.raw(`"${indexName(dimension)}"`)}
          ON "AdapterEmbedding" USING hnsw ((embedding::vector(${d})) vector_cosine_ops) WHERE dimension = ${d}`;
      },
      { timeout: 3_600_000, maxWait: 60_000 },
    );
    await this.analyze();
    return result;
  }

  /**
   * Refreshes planner statistics for the tables retrieval joins. Without them (PGlite has
   * no autovacuum) the planner misjudges how many adapters a scope keeps and may skip the
   * HNSW index; run after bulk changes (re-embedding jobs, pool loads).
   */
  async analyze(): Promise<void> {
    await this.prisma.$executeRaw`ANALYZE "Adapter"`;
    await this.prisma.$executeRaw`ANALYZE "AdapterEmbedding"`;
  }

  // ---------------------------------------------------------------------------------------
  // Embeddings
  // ---------------------------------------------------------------------------------------

  /** Inserts or replaces embeddings, many rows per statement. */
  async upsertEmbeddings(rows: readonly EmbeddingInput[], chunk = 500): Promise<void> {
    for (let i = 0; i < rows.length; i += chunk) {
      const values = rows
        .slice(i, i + chunk)
        .map((r) => Prisma.sql`(${r.adapterId}::uuid, ${r.encoderId}, ${vectorText(r.vector)}::vector, ${r.vector.length}, ${r.samplesHash}, now())`);
      await this.prisma.$executeRaw`INSERT INTO "AdapterEmbedding" ("adapterId", "encoderId", embedding, dimension, "samplesHash", "updatedAt")
        VALUES ${Prisma.join(values)}
        ON CONFLICT ("adapterId", "encoderId") DO UPDATE
        SET embedding = EXCLUDED.embedding, dimension = EXCLUDED.dimension, "samplesHash" = EXCLUDED."samplesHash", "updatedAt" = now()`;
    }
  }

  upsertEmbedding(row: EmbeddingInput): Promise<void> {
    return this.upsertEmbeddings([row]);
  }

  async getEmbedding(adapterId: string, encoderId: string): Promise<{ vector: Float32Array; samplesHash: string } | null> {
    return (await this.getEmbeddings([adapterId], encoderId)).get(adapterId) ?? null;
  }

  /** The embeddings of several adapters under `encoderId`, in one statement (absent: none stored). */
  async getEmbeddings(adapterIds: readonly string[], encoderId: string): Promise<Map<string, { vector: Float32Array; samplesHash: string }>> {
    if (adapterIds.length === 0) return new Map();
    const rows = await this.prisma.$queryRaw<{ adapterId: string; embedding: string; samplesHash: string }[]>`
      SELECT "adapterId"::text AS "adapterId", embedding::text AS embedding, "samplesHash" FROM "AdapterEmbedding"
      WHERE "adapterId" IN (${Prisma.join(adapterIds.map((id) => Prisma.sql`${id}::uuid`))}) AND "encoderId" = ${encoderId}`;
    return new Map(rows.map((r) => [r.adapterId, { vector: Float32Array.from(pgvector.fromSql(r.embedding) as number[]), samplesHash: r.samplesHash }]));
  }

  /** samplesHash of each adapter's embedding under `encoderId` (absent: none stored). */
  async storedHashes(encoderId: string, adapterIds: readonly string[]): Promise<Map<string, string>> {
    if (adapterIds.length === 0) return new Map();
    const rows = await this.prisma.adapterEmbedding.findMany({
      where: { encoderId, adapterId: { in: [...adapterIds] } },
      select: { adapterId: true, samplesHash: true },
    });
    return new Map(rows.map((r) => [r.adapterId, r.samplesHash]));
  }

  countEmbeddings(encoderId: string): Promise<number> {
    return this.prisma.adapterEmbedding.count({ where: { encoderId } });
  }

  // ---------------------------------------------------------------------------------------
  // Search
  // ---------------------------------------------------------------------------------------

  private searchSql(encoderId: string, query: Float32Array | readonly number[], k: number, scope: SearchScope, explain: boolean): Prisma.Sql {
    const d = dimensionLiteral(query.length);
    const q = vectorText(query);
    const exclude = scope.exclude?.length
      ? Prisma.sql`AND e."adapterId" NOT IN (${Prisma.join(scope.exclude.map((id) => Prisma.sql`${id}::uuid`))})`
      : Prisma.empty;
    // The inner query is the index-shaped one (expression, predicate, ORDER BY distance,
    // LIMIT); with iterative scans the index may return rows slightly out of order, so the
    // outer query sorts the k rows again.
    return Prisma.sql`${explain ? Prisma.raw("EXPLAIN ") : Prisma.empty}WITH candidates AS MATERIALIZED (
        SELECT e."adapterId", e.embedding::vector(${d}) <=> ${q}::vector(${d}) AS distance
        FROM "AdapterEmbedding" e
        JOIN "Adapter" a ON a.id = e."adapterId"
        WHERE e.dimension = ${d} AND e."encoderId" = ${encoderId}
          AND a."baseModelId" = ${scope.baseModelId}::uuid AND ${poolSql(scope.pool)}
          ${exclude}
        ORDER BY e.embedding::vector(${d}) <=> ${q}::vector(${d})
        LIMIT ${k}
      )
      SELECT c."adapterId", a.name, (1 - c.distance)::float8 AS score
      FROM candidates c JOIN "Adapter" a ON a.id = c."adapterId"
      ORDER BY c.distance, c."adapterId"`;
  }

  private async inSearchTransaction<T>(options: SearchOptions, run: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    const ef = options.efSearch ?? DEFAULT_EF_SEARCH;
    if (!Number.isInteger(ef) || ef < 1 || ef > 1000) throw new RangeError(`efSearch must be an integer in 1..1000, got ${ef}`);
    return this.prisma.$transaction(async (tx) => {
      if (options.exact) {
        await tx.$executeRaw`SELECT set_config('enable_indexscan', 'off', true)`;
      } else {
        // iterative_scan: keep scanning past filtered-out rows until k pass (pgvector >= 0.8).
        await tx.$executeRaw`SELECT set_config('hnsw.ef_search', ${String(ef)}, true), set_config('hnsw.iterative_scan', 'relaxed_order', true)`;
      }
      return run(tx);
    });
  }

  /** The k nearest adapters by cosine similarity that `scope` may use, best first. */
  async search(encoderId: string, query: Float32Array | readonly number[], k: number, scope: SearchScope, options: SearchOptions = {}): Promise<SearchHit[]> {
    if (!Number.isInteger(k) || k < 1 || k > 1000) throw new RangeError(`k must be an integer in 1..1000, got ${k}`);
    const sql = this.searchSql(encoderId, query, k, scope, false);
    return this.inSearchTransaction(options, (tx) => tx.$queryRaw<SearchHit[]>(sql));
  }

  /** The query plan of search() (to check that it uses the HNSW index). */
  async explainSearch(
    encoderId: string,
    query: Float32Array | readonly number[],
    k: number,
    scope: SearchScope,
    options: SearchOptions & { forceIndex?: boolean } = {},
  ): Promise<string> {
    const sql = this.searchSql(encoderId, query, k, scope, true);
    const rows = await this.inSearchTransaction(options, async (tx) => {
      if (options.forceIndex) {
        await tx.$executeRaw`SELECT set_config('enable_seqscan', 'off', true)`;
        await tx.$executeRaw`SELECT set_config('enable_sort', 'off', true)`;
      }
      return tx.$queryRaw<Record<string, string>[]>(sql);
    });
    return rows.map((r) => Object.values(r)[0]).join("\n");
  }

  // ---------------------------------------------------------------------------------------
  // Samples (what embeddings are computed from)
  // ---------------------------------------------------------------------------------------

  async adapterSamples(adapterId: string): Promise<string[]> {
    const rows = await this.prisma.adapterSample.findMany({ where: { adapterId }, orderBy: { position: "asc" }, select: { text: true } });
    return rows.map((r) => r.text);
  }

  /** Adapters in id order after `afterId`, with their samples; for walking the whole pool. */
  async adapterSamplesPage(afterId: string | undefined, take: number): Promise<AdapterSamples[]> {
    const adapters = await this.prisma.adapter.findMany({
      where: afterId ? { id: { gt: afterId } } : {},
      orderBy: { id: "asc" },
      take,
      select: { id: true, samples: { orderBy: { position: "asc" }, select: { text: true } } },
    });
    return adapters.map((a) => ({ adapterId: a.id, samples: a.samples.map((s) => s.text) }));
  }

  countAdapters(): Promise<number> {
    return this.prisma.adapter.count();
  }

  // ---------------------------------------------------------------------------------------
  // Re-embedding jobs (QUEUED -> RUNNING -> DONE | FAILED | CANCELLED)
  // ---------------------------------------------------------------------------------------

  createJob(encoderId: string, total: number): Promise<EmbeddingJobRecord> {
    return this.prisma.embeddingJob.create({ data: { encoderId, total } }) as Promise<EmbeddingJobRecord>;
  }

  getJob(id: string): Promise<EmbeddingJobRecord | null> {
    return this.prisma.embeddingJob.findUnique({ where: { id } }) as Promise<EmbeddingJobRecord | null>;
  }

  /** The newest unfinished job for `encoderId` (to resume after a restart), if any. */
  unfinishedJob(encoderId: string): Promise<EmbeddingJobRecord | null> {
    return this.prisma.embeddingJob.findFirst({
      where: { encoderId, status: { in: ["QUEUED", "RUNNING"] } },
      orderBy: { createdAt: "desc" },
    }) as Promise<EmbeddingJobRecord | null>;
  }

  async markJobRunning(id: string, total: number): Promise<void> {
    await this.prisma.embeddingJob.update({ where: { id }, data: { status: "RUNNING", total, startedAt: new Date() } });
  }

  async recordJobProgress(id: string, done: number): Promise<void> {
    await this.prisma.embeddingJob.update({ where: { id }, data: { done } });
  }

  async finishJob(id: string, status: "DONE" | "FAILED" | "CANCELLED", error?: string): Promise<void> {
    await this.prisma.embeddingJob.update({ where: { id }, data: { status, error: error ?? null, finishedAt: new Date() } });
  }

  // ---------------------------------------------------------------------------------------
  // Benchmark and test pools
  // ---------------------------------------------------------------------------------------

  /**
   * Creates a team, a base model and ACTIVE adapters with their samples in one go, for
   * retrieval benchmarks and tests (users' adapters come through adapter registration).
   */
  async createAdapterPool(args: {
    label: string;
    adapters: ReadonlyArray<{ name: string; samples?: readonly string[]; visibility?: "PRIVATE" | "PUBLIC" }>;
  }): Promise<{ teamId: string; baseModelId: string; adapterIds: Map<string, string> }> {
    const stamp = `${args.label}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const team = await this.prisma.team.create({ data: { name: args.label, slug: stamp } });
    const model = await this.prisma.baseModel.create({
      data: {
        name: stamp,
        architecture: "LlamaForCausalLM",
        config: {},
        hiddenSize: 0,
        numLayers: 0,
        vocabSize: 0,
        contextLength: 0,
        dtype: "f32",
        storageUri: "none:",
        contentHash: "",
      },
    });
    for (let i = 0; i < args.adapters.length; i += 5000) {
      await this.prisma.adapter.createMany({
        data: args.adapters.slice(i, i + 5000).map((a) => ({
          teamId: team.id,
          baseModelId: model.id,
          name: a.name,
          status: "ACTIVE" as const,
          visibility: a.visibility ?? "PRIVATE",
        })),
      });
    }
    const rows = await this.prisma.adapter.findMany({ where: { teamId: team.id }, select: { id: true, name: true } });
    const adapterIds = new Map(rows.map((r) => [r.name, r.id]));
    const samples = args.adapters.flatMap((a) => (a.samples ?? []).map((text, position) => ({ adapterId: adapterIds.get(a.name)!, position, text })));
    for (let i = 0; i < samples.length; i += 5000) await this.prisma.adapterSample.createMany({ data: samples.slice(i, i + 5000) });
    await this.analyze();
    return { teamId: team.id, baseModelId: model.id, adapterIds };
  }

  /** Removes a pool made by createAdapterPool (its adapters, samples and embeddings cascade). */
  async deleteAdapterPool(pool: { teamId: string; baseModelId: string }): Promise<void> {
    await this.prisma.team.delete({ where: { id: pool.teamId } });
    await this.prisma.baseModel.delete({ where: { id: pool.baseModelId } });
  }
}
