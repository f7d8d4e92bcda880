// Usage analytics over the recorded generations, computed in SQL (percentiles with
// percentile_cont, buckets with date_trunc and generate_series, UTC).
import { requireAction, type TeamScope } from "../auth/policy.js";
import { Prisma, type PrismaClient } from "./generated/client.js";
import type { CompositionStrategy } from "./generated/enums.js";

export type UsageGrain = "hour" | "day";

export interface UsageFilter {
  /** The team whose usage is read; the gate checked the caller may read it (usage.read). */
  scope: TeamScope;
  from: Date;
  to: Date;
  adapterId?: string;
  apiKeyId?: string;
  userId?: string;
  strategy?: CompositionStrategy;
}

export interface UsageStats {
  requests: number;
  tokensIn: number;
  tokensOut: number;
  errors: number;
  cancelled: number;
  ttftP50Ms: number | null;
  ttftP95Ms: number | null;
  ttftP99Ms: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  latencyP99Ms: number | null;
}

interface StatsRow {
  requests: number;
  tokens_in: bigint | number;
  tokens_out: bigint | number;
  errors: number;
  cancelled: number;
  ttft_p50: number | null;
  ttft_p95: number | null;
  ttft_p99: number | null;
  latency_p50: number | null;
  latency_p95: number | null;
  latency_p99: number | null;
}

const statsColumns = Prisma.sql`
  count(g.id)::int AS requests,
  coalesce(sum(g."tokensIn"), 0)::bigint AS tokens_in,
  coalesce(sum(g."tokensOut"), 0)::bigint AS tokens_out,
  (count(g.id) FILTER (WHERE g.status = 'FAILED'))::int AS errors,
  (count(g.id) FILTER (WHERE g.status = 'CANCELLED'))::int AS cancelled,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY g."ttftMs") AS ttft_p50,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY g."ttftMs") AS ttft_p95,
  percentile_cont(0.99) WITHIN GROUP (ORDER BY g."ttftMs") AS ttft_p99,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY g."totalMs") AS latency_p50,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY g."totalMs") AS latency_p95,
  percentile_cont(0.99) WITHIN GROUP (ORDER BY g."totalMs") AS latency_p99`;

function toStats(r: StatsRow | undefined): UsageStats {
  const n = (v: number | null | undefined) => (v === null || v === undefined ? null : Number(v));
  return {
    requests: r?.requests ?? 0,
    tokensIn: Number(r?.tokens_in ?? 0),
    tokensOut: Number(r?.tokens_out ?? 0),
    errors: r?.errors ?? 0,
    cancelled: r?.cancelled ?? 0,
    ttftP50Ms: n(r?.ttft_p50),
    ttftP95Ms: n(r?.ttft_p95),
    ttftP99Ms: n(r?.ttft_p99),
    latencyP50Ms: n(r?.latency_p50),
    latencyP95Ms: n(r?.latency_p95),
    latencyP99Ms: n(r?.latency_p99),
  };
}

function where(f: UsageFilter): Prisma.Sql {
  requireAction(f.scope, "usage.read");
  const parts = [Prisma.sql`g."teamId" = ${f.scope.teamId}::uuid`, Prisma.sql`g."createdAt" >= ${f.from}`, Prisma.sql`g."createdAt" < ${f.to}`];
  if (f.apiKeyId) parts.push(Prisma.sql`g."apiKeyId" = ${f.apiKeyId}::uuid`);
  if (f.userId) parts.push(Prisma.sql`g."userId" = ${f.userId}::uuid`);
  if (f.strategy) parts.push(Prisma.sql`g.strategy = ${f.strategy}::"CompositionStrategy"`);
  if (f.adapterId) {
    parts.push(Prisma.sql`EXISTS (SELECT 1 FROM "GenerationAdapter" ga WHERE ga."generationId" = g.id AND ga."adapterId" = ${f.adapterId}::uuid)`);
  }
  return Prisma.join(parts, " AND ");
}

export class UsageStore {
  constructor(private readonly prisma: PrismaClient) {}

  async totals(f: UsageFilter): Promise<UsageStats> {
    const rows = await this.prisma.$queryRaw<StatsRow[]>`SELECT ${statsColumns} FROM "Generation" g WHERE ${where(f)}`;
    return toStats(rows[0]);
  }

  /** One entry per bucket from `from` to `to` (empty buckets included). */
  async series(f: UsageFilter, grain: UsageGrain): Promise<{ start: Date; stats: UsageStats }[]> {
    const unit = Prisma.raw(grain === "hour" ? "'hour'" : "'day'");
    const step = Prisma.raw(grain === "hour" ? "interval '1 hour'" : "interval '1 day'");
    const rows = await this.prisma.$queryRaw<(StatsRow & { bucket: Date })[]>`
      WITH buckets AS (
        SELECT generate_series(date_trunc(${unit}, ${f.from}::timestamp), ${f.to}::timestamp - interval '1 microsecond', ${step}) AS bucket
      )
      SELECT b.bucket, ${statsColumns}
      FROM buckets b
      LEFT JOIN "Generation" g ON date_trunc(${unit}, g."createdAt") = b.bucket AND ${where(f)}
      GROUP BY b.bucket
      ORDER BY b.bucket`;
    return rows.map((r) => ({ start: new Date(r.bucket), stats: toStats(r) }));
  }

  /** Requests and tokens per adapter used (a generation counts once for each of its adapters). */
  async byAdapter(f: UsageFilter, limit: number) {
    // Grouped by the adapter while it exists, by its recorded name once deleted.
    return this.prisma.$queryRaw<{ adapterId: string | null; name: string; requests: number; tokens_out: bigint; errors: number }[]>`
      SELECT ga."adapterId", coalesce(a.name, ga."adapterName") AS name, count(g.id)::int AS requests,
             coalesce(sum(g."tokensOut"), 0)::bigint AS tokens_out,
             (count(g.id) FILTER (WHERE g.status = 'FAILED'))::int AS errors
      FROM "Generation" g
      JOIN "GenerationAdapter" ga ON ga."generationId" = g.id
      LEFT JOIN "Adapter" a ON a.id = ga."adapterId"
      WHERE ${where(f)}
      GROUP BY ga."adapterId", coalesce(a.name, ga."adapterName")
      ORDER BY requests DESC, name
      LIMIT ${limit}`;
  }

  async byApiKey(f: UsageFilter, limit: number) {
    return this.prisma.$queryRaw<{ apiKeyId: string; name: string; prefix: string; requests: number; tokens_out: bigint }[]>`
      SELECT k.id AS "apiKeyId", k.name, k.prefix, count(g.id)::int AS requests, coalesce(sum(g."tokensOut"), 0)::bigint AS tokens_out
      FROM "Generation" g JOIN "ApiKey" k ON k.id = g."apiKeyId"
      WHERE ${where(f)}
      GROUP BY k.id, k.name, k.prefix
      ORDER BY requests DESC, k.name
      LIMIT ${limit}`;
  }

  async byUser(f: UsageFilter, limit: number) {
    return this.prisma.$queryRaw<{ userId: string; email: string; requests: number; tokens_out: bigint }[]>`
      SELECT u.id AS "userId", u.email, count(g.id)::int AS requests, coalesce(sum(g."tokensOut"), 0)::bigint AS tokens_out
      FROM "Generation" g JOIN "User" u ON u.id = g."userId"
      WHERE ${where(f)}
      GROUP BY u.id, u.email
      ORDER BY requests DESC, u.email
      LIMIT ${limit}`;
  }

  async byStrategy(f: UsageFilter) {
    const rows = await this.prisma.$queryRaw<(StatsRow & { strategy: CompositionStrategy })[]>`
      SELECT g.strategy, ${statsColumns} FROM "Generation" g WHERE ${where(f)} GROUP BY g.strategy ORDER BY g.strategy`;
    return rows.map((r) => ({ strategy: r.strategy, stats: toStats(r) }));
  }
}
