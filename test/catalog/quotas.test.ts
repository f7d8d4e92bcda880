// Quota admission in the catalog (catalog/quotas.ts), on PGlite and PostgreSQL: parallel
// admissions never pass a quota, reservations end with their generation or upload, and a
// crashed holder's reservations lapse with their lease.
import { openCatalog, type Catalog } from "../../apps/api/src/catalog/database.js";
import { GenerationStore } from "../../apps/api/src/catalog/generations.js";
import { QuotaStore, type GenerationAdmission } from "../../apps/api/src/catalog/quotas.js";
import { catalogKinds, freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";

const admission = (teamId: string, extra: Partial<GenerationAdmission> = {}): GenerationAdmission => ({
  teamId,
  userId: null,
  apiKeyId: null,
  strategy: "NONE",
  k: 0,
  adapters: [],
  tokens: 10,
  ...extra,
});

/** Runs all at once; returns the fulfilled values and the rejections' codes. */
async function together<T>(n: number, run: (i: number) => Promise<T>) {
  const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) => run(i)));
  const ok = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const errors = settled.flatMap((s) => (s.status === "rejected" ? [s.reason as { code?: string; details?: Record<string, unknown> }] : []));
  return { ok, errors };
}

const finished = { status: "DONE" as const, finishReason: "length", errorCode: null, queueMs: 0, ttftMs: 1, totalMs: 2 };

describe.each(catalogKinds())("quota store ($kind)", ({ open }) => {
  let catalog: Catalog;
  let quotas: QuotaStore;
  let records: GenerationStore;
  let n = 0;

  beforeAll(async () => {
    catalog = await open();
    quotas = new QuotaStore(catalog.prisma);
    records = new GenerationStore(catalog.prisma);
  }, 60_000);
  afterAll(async () => {
    quotas?.close();
    await catalog?.close();
  });

  const team = async (data: Record<string, unknown> = {}) =>
    (await catalog.prisma.team.create({ data: { name: "T", slug: `t-${++n}-${Date.now()}`, ...data } })).id;
  const live = (teamId: string) => catalog.prisma.quotaReservation.count({ where: { teamId } });

  test("50 parallel admissions against a concurrency quota of 3 admit exactly 3; finishing one frees its slot", async () => {
    const teamId = await team({ quotaConcurrent: 3 });
    const { ok, errors } = await together(50, () => quotas.admitGeneration(admission(teamId)));
    expect(ok).toHaveLength(3);
    expect(errors).toHaveLength(47);
    expect(errors.every((e) => e.code === "QUOTA_EXCEEDED" && e.details?.quota === "concurrentGenerations" && e.details.retryAfterSeconds === 1)).toBe(true);
    expect(await live(teamId)).toBe(3);
    expect(await catalog.prisma.generation.count({ where: { teamId } })).toBe(3);
    // The record's finish deletes the reservation with the usage event.
    await records.finish(ok[0]!.generationId, { ...finished, tokensIn: 1, tokensOut: 1 }, { teamId, userId: null, apiKeyId: null });
    quotas.settled(ok[0]!.reservationId);
    expect(await live(teamId)).toBe(2);
    const again = await together(10, () => quotas.admitGeneration(admission(teamId)));
    expect(again.ok).toHaveLength(1);
  });

  test("requests per minute: 20 parallel against 4 admit exactly 4, and the refusals say when a request ages out", async () => {
    const teamId = await team({ quotaRequestsPerMinute: 4 });
    const { ok, errors } = await together(20, () => quotas.admitGeneration(admission(teamId)));
    expect(ok).toHaveLength(4);
    for (const e of errors) {
      expect(e).toMatchObject({ code: "QUOTA_EXCEEDED", details: { quota: "requestsPerMinute", limit: 4, used: 4 } });
      expect(e.details!.retryAfterSeconds).toBeGreaterThanOrEqual(55);
      expect(e.details!.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
  });

  test("tokens per day count running generations' reservations (prompt + maxTokens) until their usage is recorded", async () => {
    const teamId = await team({ quotaTokensPerDay: 100 });
    const { ok, errors } = await together(10, () => quotas.admitGeneration(admission(teamId, { tokens: 30 })));
    expect(ok).toHaveLength(3);
    expect(errors[0]).toMatchObject({
      code: "QUOTA_EXCEEDED",
      details: { quota: "tokensPerDay", limit: 100, used: 90, reserved: 90, requested: 30, retryAfterSeconds: 1 },
    });
    // Settling one at 5 tokens: 5 used + 60 reserved + 30 fits in 100.
    await records.finish(ok[0]!.generationId, { ...finished, tokensIn: 2, tokensOut: 3 }, { teamId, userId: null, apiKeyId: null });
    const more = await together(5, () => quotas.admitGeneration(admission(teamId, { tokens: 30 })));
    expect(more.ok).toHaveLength(1);
    // More than the whole quota is refused for good (no Retry-After).
    await expect(quotas.admitGeneration(admission(teamId, { tokens: 101 }))).rejects.toMatchObject({ details: { quota: "tokensPerDay", requested: 101 } });
    await expect(quotas.admitGeneration(admission(teamId, { tokens: 101 }))).rejects.not.toMatchObject({ details: { retryAfterSeconds: expect.anything() } });
  });

  test("an API key's limits apply under the team's quotas, to that key alone", async () => {
    const teamId = await team({ quotaConcurrent: 10 });
    const user = await catalog.prisma.user.create({ data: { email: `k${n}@example.test`, passwordHash: "x" } });
    const key = await catalog.prisma.apiKey.create({
      data: { teamId, name: "k", prefix: `qk_${n}${Date.now()}`, secretHash: `h${n}${Date.now()}`, role: "MEMBER", createdById: user.id, limitConcurrent: 1 },
    });
    const viaKey = await together(5, () => quotas.admitGeneration(admission(teamId, { apiKeyId: key.id })));
    expect(viaKey.ok).toHaveLength(1);
    expect(viaKey.errors[0]).toMatchObject({
      code: "QUOTA_EXCEEDED",
      details: { quota: "concurrentGenerations", scope: "apiKey", limit: 1, apiKeyId: key.id },
    });
    const others = await together(5, () => quotas.admitGeneration(admission(teamId)));
    expect(others.ok).toHaveLength(5);
  });

  test("storage: 10 parallel uploads of 300 bytes against 1000 reserve exactly 3; released ones free their bytes", async () => {
    const teamId = await team({ quotaStorageBytes: 1000n });
    const uploads = new QuotaStore(catalog.prisma);
    const { ok, errors } = await together(10, () => uploads.reserveStorage(teamId, 300));
    expect(ok.filter(Boolean)).toHaveLength(3);
    expect(errors[0]).toMatchObject({ code: "QUOTA_EXCEEDED", details: { quota: "storageBytes", limit: 1000, used: 900, requested: 300 } });
    expect(uploads.holding).toBe(3);
    for (const id of ok) await uploads.release(id!);
    expect(await live(teamId)).toBe(0);
    expect(uploads.holding).toBe(0);
    await uploads.release((await uploads.reserveStorage(teamId, 1000))!);
    // No storage quota: nothing to reserve.
    expect(await uploads.reserveStorage(await team(), 1e12)).toBeUndefined();
    uploads.close();
  });

  test("a holder that stops renewing loses its reservations when the lease lapses; renewing keeps them", async () => {
    const teamId = await team({ quotaConcurrent: 1 });
    const crashed = new QuotaStore(catalog.prisma, { leaseMs: 400, renewMs: 60_000 });
    await crashed.admitGeneration(admission(teamId));
    crashed.close();
    await expect(quotas.admitGeneration(admission(teamId))).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    await new Promise((r) => setTimeout(r, 600));
    const taken = await quotas.admitGeneration(admission(teamId));
    // The lapsed row was dropped by the admission that replaced it.
    expect(await catalog.prisma.quotaReservation.findMany({ where: { teamId }, select: { id: true } })).toEqual([{ id: taken.reservationId }]);

    const other = await team({ quotaConcurrent: 1 });
    const alive = new QuotaStore(catalog.prisma, { leaseMs: 400, renewMs: 60_000 });
    await alive.admitGeneration(admission(other));
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 250));
      await alive.renew();
    }
    await expect(quotas.admitGeneration(admission(other))).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    alive.close();
  });
});

const pgSkip = postgresSkipReason();
const requirePostgres = process.env.QUIVER_REQUIRE_POSTGRES === "1";
if (pgSkip && !requirePostgres) console.log(`Skipping the two-process quota store test: ${pgSkip}`);

(pgSkip && !requirePostgres ? describe.skip : describe)("quota store, two processes on one PostgreSQL database", () => {
  test("two catalogs (two connection pools, two holders) together admit exactly 3 of 50", async () => {
    if (pgSkip) throw new Error(`PostgreSQL is required here (QUIVER_REQUIRE_POSTGRES=1) but unavailable: ${pgSkip}`);
    const url = await freshPostgresDatabase();
    const a = await openCatalog({ databaseUrl: url });
    const b = await openCatalog({ databaseUrl: url });
    const qa = new QuotaStore(a.prisma);
    const qb = new QuotaStore(b.prisma);
    try {
      const teamId = (await a.prisma.team.create({ data: { name: "T", slug: "two-processes", quotaConcurrent: 3 } })).id;
      const { ok } = await together(50, (i) => (i % 2 ? qa : qb).admitGeneration(admission(teamId)));
      expect(ok).toHaveLength(3);
      expect(await b.prisma.quotaReservation.count({ where: { teamId } })).toBe(3);
    } finally {
      qa.close();
      qb.close();
      await a.close();
      await b.close();
    }
  }, 60_000);
});
