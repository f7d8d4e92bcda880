// A crash mid-stream loses nothing that was delivered: `quiver serve` (a child process, on
// stories260K) runs 128 streams, is killed with SIGKILL while the first ones are half-way,
// and is started again on the same data (an embedded PGlite data directory, and a PostgreSQL
// database). It starts; every request a client saw start is recorded and ended (a finished
// one DONE with its exact usage, the others FAILED, finish reason "interrupted", error code
// INTERRUPTED); and each is billed at least the tokens its client received and at most 32
// more (usage-meter.ts: delivered <= billed <= delivered + 32), on the record and in its
// usage row alike. Without the recovery the records stay QUEUED/PREFILL/DECODE; without
// the billing ahead their usage is 0.
import { openCatalog, type Catalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import { killServer, openStream, spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir } from "../helpers/pool.js";
import { gql, login } from "../helpers/server.js";
import { convertStories, storiesSkipReason } from "../helpers/stories.js";
import { waitUntil } from "../helpers/wait.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the crash test: ${skip}`);
const pgSkip = postgresSkipReason();
const kinds: { kind: "pglite" | "postgres" }[] = [{ kind: "pglite" }];
if (!pgSkip || process.env.QUIVER_REQUIRE_POSTGRES === "1") kinds.push({ kind: "postgres" });
else console.log(`Skipping the PostgreSQL half of the crash test: ${pgSkip}`);

const STREAMS = 128;
const MAX_TOKENS = 400;
const BILL_AHEAD = 32;

interface Row {
  id: string;
  status: string;
  finishReason: string | null;
  errorCode: string | null;
  tokensIn: number;
  tokensOut: number;
  usageIn: number | null;
  usageOut: number | null;
  reservations: number;
}

(skip ? describe.skip : describe).each(kinds)("a crash mid-stream ($kind)", ({ kind }) => {
  let modelDir: string;
  let server: ChildServer | undefined;
  beforeAll(() => {
    modelDir = convertStories();
  });
  afterAll(async () => {
    await killServer(server);
  });

  test("kill -9 under 128 streams, restart on the same data: every started request ended, delivered tokens billed", async () => {
    const databaseUrl = kind === "postgres" ? await freshPostgresDatabase() : undefined;
    const env = { QUIVER_MODEL: modelDir, QUIVER_DATA_DIR: tempDir("crash-data"), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
    server = await spawnServer(env);
    const token = await login(server.url);
    const streams = Array.from({ length: STREAMS }, (_, i) =>
      openStream(server!.url, token, { prompt: `Once upon a time, in story ${i},`, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true }),
    );
    // Every request admitted (its first chunk names it), the first wave (QUIVER_MAX_BATCH, 32)
    // finished, the second well into its tokens, the rest queued.
    await waitUntil(
      "every stream started, some finished and some mid-way",
      () =>
        streams.every((s) => s.id !== undefined) &&
        streams.some((s) => s.finish !== undefined) &&
        streams.some((s) => s.finish === undefined && s.tokens >= 40),
      40_000,
    );
    server.proc.kill("SIGKILL");
    await server.exited;
    await Promise.all(streams.map((s) => s.done));
    const finished = streams.filter((s) => s.finish !== undefined);
    const cut = streams.filter((s) => s.finish === undefined);
    expect(cut.some((s) => s.tokens > 0)).toBe(true); // the kill came mid-stream
    expect(finished.length).toBeGreaterThan(0);

    server = await spawnServer(env);
    expect(server.log.join("\n")).toMatch(/\[recovery\] ended \d+ generations/);
    const token2 = await login(server.url);
    // The API reads them back ended.
    for (const s of streams) {
      const r = await gql<{ generationRecord: { status: string; finishReason: string; errorCode: string | null; usage: { tokensOut: number } | null } }>(
        server.url,
        `query($id: ID!) { generationRecord(id: $id) { status finishReason errorCode usage { tokensOut } } }`,
        { id: s.id },
        { authorization: `Bearer ${token2}` },
      );
      const rec = r.data?.generationRecord;
      expect(rec).toBeTruthy();
      if (s.finish !== undefined) expect(rec).toMatchObject({ status: "DONE", finishReason: "length", usage: { tokensOut: MAX_TOKENS } });
      else expect(["DONE", "FAILED"]).toContain(rec!.status);
      if (rec!.status === "FAILED") expect(rec).toMatchObject({ finishReason: "interrupted", errorCode: "INTERRUPTED" });
    }
    // It serves again.
    const fresh = openStream(server.url, token2, { prompt: "Once upon a time", max_tokens: 20, temperature: 0, ignore_eos: true });
    await fresh.done;
    expect(fresh).toMatchObject({ status: 200, finish: "length", tokens: 20, usage: { completion_tokens: 20 } });
    server.proc.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);

    // The records and the usage rows (what quotas count) in the database itself.
    const catalog: Catalog = await openCatalog(databaseUrl ? { databaseUrl } : { dataDir: `${env.QUIVER_DATA_DIR}/db` });
    try {
      const rows = await catalog.prisma.$queryRaw<Row[]>`
        SELECT g.id::text, g.status::text, g."finishReason", g."errorCode", g."tokensIn", g."tokensOut",
          u."tokensIn" AS "usageIn", u."tokensOut" AS "usageOut",
          (SELECT COUNT(*)::int FROM "QuotaReservation" r WHERE r."generationId" = g.id) AS reservations
        FROM "Generation" g LEFT JOIN "UsageEvent" u ON u."generationId" = g.id`;
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect(rows.filter((r) => ["QUEUED", "PREFILL", "DECODE"].includes(r.status))).toEqual([]);
      let delivered = 0;
      let billed = 0;
      for (const s of streams) {
        const r = byId.get(s.id!)!;
        expect(r.reservations).toBe(0);
        expect({ id: r.id, usageOut: r.usageOut, usageIn: r.usageIn }).toEqual({ id: r.id, usageOut: r.tokensOut, usageIn: r.tokensIn });
        // The bound: every token the client received is billed, and at most 32 more.
        expect(r.tokensOut).toBeGreaterThanOrEqual(s.tokens);
        expect(r.tokensOut).toBeLessThanOrEqual(s.tokens + BILL_AHEAD);
        if (s.finish === undefined && r.status === "FAILED" && r.tokensOut > 0) expect(r.tokensIn).toBeGreaterThan(0);
        delivered += s.tokens;
        billed += r.tokensOut;
      }
      console.log(
        `crash (${kind}): ${finished.length} streams finished before the kill, ${cut.length} cut (${cut.filter((s) => s.tokens > 0).length} mid-stream); ${delivered} tokens delivered, ${billed} billed`,
      );
    } finally {
      await catalog.close();
    }
  }, 120_000);
});
