// Quotas that hold under concurrency, also when several API processes share one database.
//
// Checking counts and then acting lets N parallel requests all pass a check meant for one.
// Here every admission is one transaction that first locks the team's row
// (`SELECT ... FOR NO KEY UPDATE`: admissions of one team queue behind each other, in every
// process, while rows that only reference the team, such as usage events and audit entries,
// are not held up), then counts what the team holds in ONE statement (one snapshot, so a
// generation finishing meanwhile is seen either as a reservation or as usage, never as
// neither), and, when every quota allows it, inserts what it admits before committing:
//   - a generation: its record (requests per minute count the team's records of the last
//     minute) and a GENERATION reservation (concurrency counts the live ones; tokens per day
//     count today's usage events plus the live reservations' `tokens`, the prompt plus
//     maxTokens, until the generation ends). GenerationStore.finish deletes the reservation
//     in the transaction that writes the usage event, on every ending (done, cancelled,
//     failed, refused by the scheduler, client gone).
//   - an upload: a STORAGE reservation of its byte size (stored versions plus live
//     reservations must stay within the storage quota), deleted by the transaction that
//     registers the version (catalog/pool.ts), or released when the upload fails.
// An API key's own limits (ApiKey.limit*) are checked the same way, under the same lock.
//
// Leases: a reservation is live while `expiresAt` is in the future, by the database's clock.
// The process holding reservations renews them every RENEW_MS (10 s) to LEASE_MS (60 s)
// ahead, so a crashed process's holds lapse within a minute and stop counting; admissions
// delete a team's lapsed rows. Times come from the database, so API hosts' clocks may differ.
import { randomUUID } from "node:crypto";
import { QuiverError } from "../errors.js";
import { Prisma, type PrismaClient } from "./generated/client.js";
import { insertGeneration, type NewGeneration } from "./generations.js";
import { isWriteConflict } from "./record-errors.js";

/** A reservation's lease: it lapses this long after its last renewal. */
export const LEASE_MS = 60_000;
/** How often a process renews the leases of the reservations it holds. */
export const RENEW_MS = 10_000;

type Tx = Prisma.TransactionClient;

export interface GenerationAdmission extends NewGeneration {
  /** Tokens reserved against tokens per day until the usage is recorded: prompt + maxTokens. */
  tokens: number;
}

interface Limits {
  concurrent: number | null;
  rpm: number | null;
  tokensPerDay: number | null;
}

interface Locked {
  team: Limits;
  key: Limits | undefined;
  /** The database's clock, ms since the epoch. */
  nowMs: number;
}

interface Held {
  running: number | null;
  keyRunning: number | null;
  recent: number | null;
  keyRecent: number | null;
  used: number | null;
  keyUsed: number | null;
  reserved: number | null;
  keyReserved: number | null;
}

const iso = (ms: number) => new Date(ms).toISOString();
const utcMidnight = (ms: number) => {
  const d = new Date(ms);
  d.setUTCHours(0, 0, 0, 0);
  return d.getTime();
};

export class QuotaStore {
  /** This process's name on the reservations it holds (their lease renewals name it). */
  readonly holder = randomUUID();
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly lease: { leaseMs: number; renewMs: number } = { leaseMs: LEASE_MS, renewMs: RENEW_MS },
  ) {}

  /**
   * The generation quotas, read without locking or holding anything: refuses early, before
   * any retrieval work, what `admitGeneration` would refuse now. Advisory; admission decides.
   */
  async precheckGeneration(teamId: string, apiKeyId: string | null, tokens: number): Promise<void> {
    const locked = await this.readLimits(this.prisma, teamId, apiKeyId, false);
    await this.checkGeneration(this.prisma, teamId, apiKeyId, tokens, locked);
  }

  /**
   * Admits a generation or refuses it (QUOTA_EXCEEDED with details.quota, limit, used and
   * retryAfterSeconds): under the team's row lock, checks concurrency, requests per minute
   * and tokens per day (the team's quotas and the API key's limits), then writes the record
   * and its reservation.
   */
  async admitGeneration(g: GenerationAdmission): Promise<{ generationId: string; reservationId: string }> {
    const r = await this.transaction(async (tx) => {
      const locked = await this.readLimits(tx, g.teamId, g.apiKeyId, true);
      await this.dropLapsed(tx, g.teamId, locked.nowMs);
      await this.checkGeneration(tx, g.teamId, g.apiKeyId, g.tokens, locked);
      const createdAt = new Date(locked.nowMs);
      const generationId = await insertGeneration(tx, g, createdAt, this.holder);
      const reservation = await tx.quotaReservation.create({
        data: {
          teamId: g.teamId,
          apiKeyId: g.apiKeyId,
          kind: "GENERATION",
          generationId,
          tokens: g.tokens,
          holder: this.holder,
          createdAt,
          expiresAt: new Date(locked.nowMs + this.lease.leaseMs),
        },
        select: { id: true },
      });
      return { generationId, reservationId: reservation.id };
    });
    this.hold(r.reservationId);
    return r;
  }

  /**
   * Reserves an upload's bytes against the team's storage quota, under the team's row lock
   * (QUOTA_EXCEEDED when stored versions, live reservations and these bytes exceed it).
   * Returns the reservation to hand to the registering transaction, or undefined when the
   * team has no storage quota.
   */
  async reserveStorage(teamId: string, bytes: number): Promise<string | undefined> {
    const id = await this.transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ quota: bigint | null; nowMs: number }[]>`
        SELECT t."quotaStorageBytes" AS quota, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::float8 AS "nowMs"
        FROM "Team" t WHERE t.id = ${teamId}::uuid FOR NO KEY UPDATE`;
      const row = rows[0];
      if (!row) throw new QuiverError("NOT_FOUND", "No such team.");
      if (row.quota === null) return undefined;
      await this.dropLapsed(tx, teamId, row.nowMs);
      const limit = Number(row.quota);
      const [u] = await tx.$queryRaw<{ stored: number; reserved: number }[]>`
        SELECT
          (SELECT COALESCE(SUM(v."byteSize"), 0) FROM "AdapterVersion" v JOIN "Adapter" a ON a.id = v."adapterId" WHERE a."teamId" = ${teamId}::uuid)::float8 AS stored,
          (SELECT COALESCE(SUM(r.bytes), 0) FROM "QuotaReservation" r
            WHERE r."teamId" = ${teamId}::uuid AND r.kind = 'STORAGE' AND r."expiresAt" > ${iso(row.nowMs)}::timestamp)::float8 AS reserved`;
      const used = u!.stored + u!.reserved;
      if (used + bytes > limit) {
        throw new QuiverError(
          "QUOTA_EXCEEDED",
          `This adapter (${bytes} bytes) would take the team's adapter storage over its quota of ${limit} bytes (${used} used).`,
          {
            details: { quota: "storageBytes", scope: "team", limit, used, requested: bytes },
            hint: "Delete adapters or old versions, or ask a server administrator for a larger quota.",
          },
        );
      }
      const reservation = await tx.quotaReservation.create({
        data: {
          teamId,
          kind: "STORAGE",
          bytes: BigInt(bytes),
          holder: this.holder,
          createdAt: new Date(row.nowMs),
          expiresAt: new Date(row.nowMs + this.lease.leaseMs),
        },
        select: { id: true },
      });
      return reservation.id;
    });
    if (id) this.hold(id);
    return id;
  }

  /** Deletes a reservation (an upload that failed; a generation whose record could not be finished). */
  async release(reservationId: string): Promise<void> {
    try {
      await this.prisma.quotaReservation.deleteMany({ where: { id: reservationId } });
    } finally {
      this.settled(reservationId);
    }
  }

  /** A reservation another transaction deleted (the generation's finish, the version's registration): stop renewing it. */
  settled(reservationId: string): void {
    this.held.delete(reservationId);
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Reservations this process holds (tests, shutdown). */
  get holding(): number {
    return this.held.size;
  }

  /** Renews this process's leases now (the timer does it every RENEW_MS). */
  async renew(): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE "QuotaReservation" SET "expiresAt" = (now() AT TIME ZONE 'UTC') + ${this.lease.leaseMs}::float8 * interval '1 millisecond'
      WHERE holder = ${this.holder}::uuid`;
  }

  /** Stops renewing (the process is stopping; what it still holds lapses with its lease). */
  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private hold(id: string): void {
    this.held.add(id);
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => {
      this.renew().catch((err: unknown) => console.error("[quotas] renewing reservation leases failed:", (err as Error).message));
    }, this.lease.renewMs);
    this.timer.unref();
  }

  /** Runs a transaction; PostgreSQL may abort one of two that collide (deadlock, serialization): retried. */
  private async transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        // Admissions of one team wait for each other: allow a long queue of them.
        return await this.prisma.$transaction(work, { maxWait: 30_000, timeout: 30_000 });
      } catch (err) {
        if (isWriteConflict(err) && attempt < 5) {
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
          continue;
        }
        throw err;
      }
    }
  }

  /** The team's quotas (locking its row when `lock`), the key's limits and the database's clock. */
  private async readLimits(tx: Tx, teamId: string, apiKeyId: string | null, lock: boolean): Promise<Locked> {
    const rows = await tx.$queryRaw<{ concurrent: number | null; rpm: number | null; tokensPerDay: number | null; nowMs: number }[]>`
      SELECT t."quotaConcurrent" AS concurrent, t."quotaRequestsPerMinute" AS rpm, t."quotaTokensPerDay" AS "tokensPerDay",
        (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::float8 AS "nowMs"
      FROM "Team" t WHERE t.id = ${teamId}::uuid ${lock ? Prisma.sql`FOR NO KEY UPDATE` : Prisma.empty}`;
    const t = rows[0];
    if (!t) throw new QuiverError("NOT_FOUND", "No such team.");
    let key: Limits | undefined;
    if (apiKeyId) {
      const k = await tx.apiKey.findUnique({
        where: { id: apiKeyId },
        select: { limitConcurrent: true, limitRequestsPerMinute: true, limitTokensPerDay: true },
      });
      if (k) key = { concurrent: k.limitConcurrent, rpm: k.limitRequestsPerMinute, tokensPerDay: k.limitTokensPerDay };
    }
    return { team: { concurrent: t.concurrent, rpm: t.rpm, tokensPerDay: t.tokensPerDay }, key, nowMs: t.nowMs };
  }

  private async dropLapsed(tx: Tx, teamId: string, nowMs: number): Promise<void> {
    await tx.$executeRaw`DELETE FROM "QuotaReservation" WHERE "teamId" = ${teamId}::uuid AND "expiresAt" <= ${iso(nowMs)}::timestamp`;
  }

  /** Counts what the team (and key) hold, in one statement, and throws when a quota is reached. */
  private async checkGeneration(tx: Tx, teamId: string, apiKeyId: string | null, tokens: number, { team, key, nowMs }: Locked): Promise<void> {
    const k = apiKeyId && key ? key : undefined;
    if (
      team.concurrent === null &&
      team.rpm === null &&
      team.tokensPerDay === null &&
      (!k || (k.concurrent === null && k.rpm === null && k.tokensPerDay === null))
    )
      return;
    const now = iso(nowMs);
    const minuteAgo = iso(nowMs - 60_000);
    const midnight = iso(utcMidnight(nowMs));
    const live = Prisma.sql`r."teamId" = ${teamId}::uuid AND r.kind = 'GENERATION' AND r."expiresAt" > ${now}::timestamp`;
    const recentWhere = Prisma.sql`g."teamId" = ${teamId}::uuid AND g."createdAt" > ${minuteAgo}::timestamp`;
    const todayWhere = Prisma.sql`u."teamId" = ${teamId}::uuid AND u."createdAt" >= ${midnight}::timestamp`;
    const byKey = (col: Prisma.Sql) => (k ? Prisma.sql` AND ${col} = ${apiKeyId}::uuid` : Prisma.empty);
    const when = (needed: boolean, expr: Prisma.Sql) => (needed ? expr : Prisma.sql`NULL::float8`);
    const [held] = await tx.$queryRaw<Held[]>`
      SELECT
        ${when(team.concurrent !== null, Prisma.sql`(SELECT COUNT(*) FROM "QuotaReservation" r WHERE ${live})::float8`)} AS running,
        ${when(k?.concurrent != null, Prisma.sql`(SELECT COUNT(*) FROM "QuotaReservation" r WHERE ${live}${byKey(Prisma.sql`r."apiKeyId"`)})::float8`)} AS "keyRunning",
        ${when(team.rpm !== null, Prisma.sql`(SELECT COUNT(*) FROM "Generation" g WHERE ${recentWhere})::float8`)} AS recent,
        ${when(k?.rpm != null, Prisma.sql`(SELECT COUNT(*) FROM "Generation" g WHERE ${recentWhere}${byKey(Prisma.sql`g."apiKeyId"`)})::float8`)} AS "keyRecent",
        ${when(team.tokensPerDay !== null, Prisma.sql`(SELECT COALESCE(SUM(u."tokensIn" + u."tokensOut"), 0) FROM "UsageEvent" u WHERE ${todayWhere})::float8`)} AS used,
        ${when(k?.tokensPerDay != null, Prisma.sql`(SELECT COALESCE(SUM(u."tokensIn" + u."tokensOut"), 0) FROM "UsageEvent" u WHERE ${todayWhere}${byKey(Prisma.sql`u."apiKeyId"`)})::float8`)} AS "keyUsed",
        ${when(team.tokensPerDay !== null, Prisma.sql`(SELECT COALESCE(SUM(r.tokens), 0) FROM "QuotaReservation" r WHERE ${live})::float8`)} AS reserved,
        ${when(k?.tokensPerDay != null, Prisma.sql`(SELECT COALESCE(SUM(r.tokens), 0) FROM "QuotaReservation" r WHERE ${live}${byKey(Prisma.sql`r."apiKeyId"`)})::float8`)} AS "keyReserved"`;
    const h = held!;
    const scopes = [
      { scope: "team" as const, l: team, running: h.running, recent: h.recent, used: h.used, reserved: h.reserved },
      ...(k ? [{ scope: "apiKey" as const, l: k, running: h.keyRunning, recent: h.keyRecent, used: h.keyUsed, reserved: h.keyReserved }] : []),
    ];
    const who = (scope: "team" | "apiKey") => (scope === "team" ? "The team" : "This API key");
    const refuse = (
      scope: "team" | "apiKey",
      quota: string,
      limit: number,
      used: number,
      retryAfterSeconds: number | undefined,
      message: string,
      extra: Record<string, unknown> = {},
    ) =>
      new QuiverError("QUOTA_EXCEEDED", message, {
        details: {
          quota,
          scope,
          limit,
          used,
          ...extra,
          ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
          ...(scope === "apiKey" ? { apiKeyId } : {}),
        },
      });
    for (const s of scopes) {
      if (s.l.concurrent !== null && s.running !== null && s.running >= s.l.concurrent) {
        // A slot frees when one of its generations ends: no way to know when; try again soon.
        throw refuse(s.scope, "concurrentGenerations", s.l.concurrent, s.running, 1, `${who(s.scope)} already runs ${s.running} generations (its limit).`);
      }
    }
    for (const s of scopes) {
      if (s.l.rpm !== null && s.recent !== null && s.recent >= s.l.rpm) {
        // The request that must age out of the window for one more to fit.
        const [oldest] = await tx.$queryRaw<{ ms: number }[]>`
          SELECT (EXTRACT(EPOCH FROM g."createdAt") * 1000)::float8 AS ms FROM "Generation" g
          WHERE ${recentWhere}${s.scope === "apiKey" ? byKey(Prisma.sql`g."apiKeyId"`) : Prisma.empty}
          ORDER BY g."createdAt" ASC OFFSET ${Math.max(0, s.recent - s.l.rpm)}::int LIMIT 1`;
        const retry = Math.min(60, Math.max(1, Math.ceil(((oldest?.ms ?? nowMs) + 60_000 - nowMs) / 1000)));
        throw refuse(s.scope, "requestsPerMinute", s.l.rpm, s.recent, retry, `${who(s.scope)} made ${s.recent} requests in the last minute (its limit).`);
      }
    }
    for (const s of scopes) {
      if (s.l.tokensPerDay === null || s.used === null || s.reserved === null) continue;
      const inUse = s.used + s.reserved;
      if (inUse + tokens <= s.l.tokensPerDay) continue;
      // Used tokens come back at UTC midnight; reserved ones when running generations end.
      const retry =
        tokens > s.l.tokensPerDay
          ? undefined
          : s.used + tokens > s.l.tokensPerDay
            ? Math.max(1, Math.ceil((utcMidnight(nowMs) + 86_400_000 - nowMs) / 1000))
            : 1;
      throw refuse(
        s.scope,
        "tokensPerDay",
        s.l.tokensPerDay,
        inUse,
        retry,
        tokens > s.l.tokensPerDay
          ? `This request may use ${tokens} tokens (prompt + maxTokens), more than ${s.scope === "team" ? "the team's" : "this API key's"} daily quota of ${s.l.tokensPerDay}: lower maxTokens.`
          : `${who(s.scope)} used ${s.used} tokens today (UTC) and running generations may use ${s.reserved} more: this request (up to ${tokens}) would pass its daily quota of ${s.l.tokensPerDay}.`,
        { requested: tokens, reserved: s.reserved },
      );
    }
  }
}
