// Generation records and metered usage: every request is recorded when it is accepted, its
// usage is written as its tokens are delivered (progress, billed ahead: see
// generation/usage-meter.ts) and completed when it ends; quota checks read them. The writes
// go through the usage outbox (usage-ledger.ts) in batches: `writeUsage` is one transaction
// for many generations. Recovery (`reconcileOrphans`) ends the generations of processes that
// died while running them.
import type { Viewer } from "../auth/policy.js";
import { Prisma, type PrismaClient } from "./generated/client.js";
import type { CompositionStrategy, GenerationStatus } from "./generated/enums.js";

export interface NewGeneration {
  teamId: string;
  userId: string | null;
  apiKeyId: string | null;
  strategy: CompositionStrategy;
  k: number;
  adapters: { adapterId: string; adapterName: string; versionId: string | null; score: number | null; weight: number }[];
}

export interface FinishedGeneration {
  status: Extract<GenerationStatus, "DONE" | "CANCELLED" | "FAILED">;
  finishReason: string;
  errorCode: string | null;
  tokensIn: number;
  tokensOut: number;
  queueMs: number;
  ttftMs: number | null;
  totalMs: number;
}

/** A generation's usage so far, written while it runs (tokens billed ahead of delivery). */
export interface UsageProgress {
  generationId: string;
  status: Extract<GenerationStatus, "PREFILL" | "DECODE">;
  tokensIn: number;
  /** Tokens out billed so far: never lowered by a progress write (the final write sets the exact count). */
  tokensOut: number;
  /** What the quota reservation held at admission (prompt + maxTokens): it keeps the rest, so that usage plus reservation stays what was admitted. */
  reserved: number;
}

/** A generation's end, with its exact usage. */
export interface UsageFinal extends FinishedGeneration {
  generationId: string;
  finishedAt: Date;
}

const RUNNING = Prisma.sql`('QUEUED', 'PREFILL', 'DECODE')`;
const iso = (d: Date) => d.toISOString();

/** Writes a generation's record (QUEUED); quota admission (quotas.ts) calls it inside its transaction, naming the process that will run it (`owner`). */
export async function insertGeneration(tx: Prisma.TransactionClient, g: NewGeneration, createdAt?: Date, owner?: string): Promise<string> {
  const row = await tx.generation.create({
    data: {
      teamId: g.teamId,
      userId: g.userId,
      apiKeyId: g.apiKeyId,
      strategy: g.strategy,
      k: g.k,
      status: "QUEUED",
      ...(createdAt ? { createdAt } : {}),
      ...(owner ? { owner } : {}),
      adapters: { create: g.adapters.map((a, position) => ({ ...a, position })) },
    },
    select: { id: true },
  });
  return row.id;
}

export class GenerationStore {
  constructor(private readonly prisma: PrismaClient) {}

  create(g: NewGeneration): Promise<string> {
    return insertGeneration(this.prisma, g);
  }

  async setStatus(id: string, status: GenerationStatus): Promise<void> {
    await this.prisma.generation.update({ where: { id }, data: { status } });
  }

  /**
   * Completes the record and meters the usage, together; its quota reservation (quotas.ts)
   * goes with them. (The generation service writes through the usage outbox, `writeUsage`;
   * `who` is the record's own team, user and key, read from it.)
   */
  async finish(id: string, f: FinishedGeneration, _who?: { teamId: string; userId: string | null; apiKeyId: string | null }): Promise<void> {
    await this.writeUsage([{ final: { ...f, generationId: id, finishedAt: new Date() } }]);
  }

  /**
   * Writes usage for many generations in one transaction, in the order given (a final write
   * after any progress of the same generation): progress raises the record's tokens and
   * status (never past an ending already written) and its usage row, and lowers its quota
   * reservation by as much; a final write sets the record's ending and exact usage and
   * deletes the reservation. The usage row (one per generation) takes its team, user and key
   * from the record; a record deleted meanwhile (its team deleted) is skipped.
   */
  async writeUsage(entries: readonly { progress?: UsageProgress; final?: UsageFinal }[]): Promise<void> {
    const progress = entries.flatMap((e) => (e.progress && !e.final ? [e.progress] : []));
    const finals = entries.flatMap((e) => (e.final ? [e.final] : []));
    if (!progress.length && !finals.length) return;
    await this.prisma.$transaction(async (tx) => {
      if (progress.length) {
        const values = Prisma.join(
          progress.map((p) => Prisma.sql`(${p.generationId}::uuid, ${p.tokensIn}::int, ${p.tokensOut}::int, ${p.status}::text, ${p.reserved}::int)`),
        );
        await tx.$executeRaw`
          UPDATE "Generation" g SET "tokensIn" = v.tin, "tokensOut" = GREATEST(g."tokensOut", v.tout),
            status = CASE WHEN g.status IN ${RUNNING} THEN v.status::"GenerationStatus" ELSE g.status END
          FROM (VALUES ${values}) AS v(id, tin, tout, status, reserved) WHERE g.id = v.id`;
        await tx.$executeRaw`
          INSERT INTO "UsageEvent" (id, "teamId", "userId", "apiKeyId", kind, "generationId", "tokensIn", "tokensOut", "createdAt")
          SELECT gen_random_uuid(), g."teamId", g."userId", g."apiKeyId", 'GENERATION', g.id, v.tin, v.tout, (now() AT TIME ZONE 'UTC')
          FROM (VALUES ${values}) AS v(id, tin, tout, status, reserved) JOIN "Generation" g ON g.id = v.id
          ON CONFLICT ("generationId") DO UPDATE SET "tokensIn" = EXCLUDED."tokensIn", "tokensOut" = GREATEST("UsageEvent"."tokensOut", EXCLUDED."tokensOut")`;
        await tx.$executeRaw`
          UPDATE "QuotaReservation" r SET tokens = GREATEST(0, v.reserved - v.tin - v.tout)
          FROM (VALUES ${values}) AS v(id, tin, tout, status, reserved) WHERE r."generationId" = v.id`;
      }
      if (finals.length) {
        const values = Prisma.join(
          finals.map(
            (f) =>
              Prisma.sql`(${f.generationId}::uuid, ${f.status}::text, ${f.finishReason}::text, ${f.errorCode}::text, ${f.tokensIn}::int, ${f.tokensOut}::int, ${f.queueMs}::int, ${f.ttftMs}::int, ${f.totalMs}::int, ${iso(f.finishedAt)}::timestamp)`,
          ),
        );
        const cols = Prisma.sql`v(id, status, reason, code, tin, tout, queue, ttft, total, at)`;
        await tx.$executeRaw`
          UPDATE "Generation" g SET status = v.status::"GenerationStatus", "finishReason" = v.reason, "errorCode" = v.code, "tokensIn" = v.tin, "tokensOut" = v.tout,
            "queueMs" = v.queue, "ttftMs" = v.ttft, "totalMs" = v.total, "finishedAt" = v.at
          FROM (VALUES ${values}) AS ${cols} WHERE g.id = v.id`;
        await tx.$executeRaw`
          INSERT INTO "UsageEvent" (id, "teamId", "userId", "apiKeyId", kind, "generationId", "tokensIn", "tokensOut", "createdAt")
          SELECT gen_random_uuid(), g."teamId", g."userId", g."apiKeyId", 'GENERATION', g.id, v.tin, v.tout, v.at
          FROM (VALUES ${values}) AS ${cols} JOIN "Generation" g ON g.id = v.id
          ON CONFLICT ("generationId") DO UPDATE SET "tokensIn" = EXCLUDED."tokensIn", "tokensOut" = EXCLUDED."tokensOut"`;
        await tx.$executeRaw`DELETE FROM "QuotaReservation" WHERE "generationId" IN (${Prisma.join(finals.map((f) => Prisma.sql`${f.generationId}::uuid`))})`;
      }
    });
  }

  /** How long the database server has been up (ms): after a restart, instance locks take a moment to be held again. */
  async serverUptimeMs(): Promise<number> {
    const [r] = await this.prisma.$queryRaw<{ ms: number }[]>`SELECT (EXTRACT(EPOCH FROM (now() - pg_postmaster_start_time())) * 1000)::float8 AS ms`;
    return r?.ms ?? 0;
  }

  /**
   * Recovery: ends the generations still QUEUED, PREFILL or DECODE whose process is gone
   * (their owner's advisory lock is free, or they have no owner), except this process's own:
   * FAILED, finishReason "interrupted", errorCode "INTERRUPTED", with the usage their
   * progress writes billed (at least every token delivered: see generation/usage-meter.ts),
   * their reservations deleted. Returns what it ended.
   */
  async reconcileOrphans(self: string): Promise<{ id: string; owner: string | null; tokensIn: number; tokensOut: number }[]> {
    const rows = await this.prisma.$queryRaw<{ id: string; owner: string | null }[]>`
      SELECT id, owner FROM "Generation" WHERE status IN ${RUNNING}`;
    const owners = [...new Set(rows.map((r) => r.owner).filter((o): o is string => o !== null && o !== self))];
    const gone = new Set<string | null>([null]);
    for (const owner of owners) {
      // Free means no session holds it: its process has ended (its connection with it).
      const [r] = await this.prisma.$queryRaw<{ free: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtextextended(${owner}::text, 0)) AS free`;
      if (r?.free) gone.add(owner);
    }
    const ids = rows.filter((r) => r.owner !== self && gone.has(r.owner)).map((r) => r.id);
    const ended: { id: string; owner: string | null; tokensIn: number; tokensOut: number }[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = Prisma.join(ids.slice(i, i + 500).map((id) => Prisma.sql`${id}::uuid`));
      ended.push(
        ...(await this.prisma.$transaction(async (tx) => {
          const done = await tx.$queryRaw<{ id: string; owner: string | null; tokensIn: number; tokensOut: number }[]>`
            UPDATE "Generation" SET status = 'FAILED', "finishReason" = 'interrupted', "errorCode" = 'INTERRUPTED',
              "finishedAt" = (now() AT TIME ZONE 'UTC'),
              "totalMs" = COALESCE("totalMs", GREATEST(0, EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - "createdAt")) * 1000)::int)
            WHERE id IN (${chunk}) AND status IN ${RUNNING}
            RETURNING id, owner, "tokensIn", "tokensOut"`;
          if (!done.length) return done;
          const endedIds = Prisma.join(done.map((d) => Prisma.sql`${d.id}::uuid`));
          await tx.$executeRaw`
            INSERT INTO "UsageEvent" (id, "teamId", "userId", "apiKeyId", kind, "generationId", "tokensIn", "tokensOut", "createdAt")
            SELECT gen_random_uuid(), g."teamId", g."userId", g."apiKeyId", 'GENERATION', g.id, g."tokensIn", g."tokensOut", (now() AT TIME ZONE 'UTC')
            FROM "Generation" g WHERE g.id IN (${endedIds})
            ON CONFLICT ("generationId") DO UPDATE SET "tokensIn" = GREATEST("UsageEvent"."tokensIn", EXCLUDED."tokensIn"), "tokensOut" = GREATEST("UsageEvent"."tokensOut", EXCLUDED."tokensOut")`;
          await tx.$executeRaw`DELETE FROM "QuotaReservation" WHERE "generationId" IN (${endedIds})`;
          return done;
        })),
      );
    }
    return ended;
  }

  /** A generation of a team the viewer reads; null otherwise, as if absent. */
  get(viewer: Viewer, id: string) {
    return this.prisma.generation.findFirst({
      where: { id, teamId: { in: [...viewer.readableTeamIds] } },
      select: {
        id: true,
        teamId: true,
        userId: true,
        apiKeyId: true,
        status: true,
        strategy: true,
        k: true,
        finishReason: true,
        errorCode: true,
        tokensIn: true,
        tokensOut: true,
        queueMs: true,
        ttftMs: true,
        totalMs: true,
        createdAt: true,
        finishedAt: true,
        adapters: { orderBy: { position: "asc" }, select: { adapterId: true, adapterName: true, score: true, weight: true } },
      },
    });
  }

  /** Requests the team made in the last `ms` milliseconds. */
  recentRequests(teamId: string, ms: number): Promise<number> {
    return this.prisma.generation.count({ where: { teamId, createdAt: { gte: new Date(Date.now() - ms) } } });
  }
}
