// SIGTERM under load ends every stream with a finish reason and loses no usage. `quiver serve`
// (a child process, on stories260K, QUIVER_SHUTDOWN_GRACE_SECONDS=3, 8 sequences at a time)
// runs 96 streams of 200 tokens and gets SIGTERM as the first ones begin: new requests answer 503 SHUTTING_DOWN with
// Retry-After and /healthz names the shutdown; running streams finish within the grace
// period, the rest end with finish reason "shutdown" (quiver.finish_reason; their records
// FAILED, errorCode SHUTDOWN); the process exits 0; and every record is ended with usage
// equal to what its client received, on the embedded PGlite data directory and on
// PostgreSQL. Without the graceful close every running stream is cut ("cancelled") at once
// and nothing says why; a SIGKILL-like stop would leave records running.
import { openCatalog, type Catalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import { killServer, openStream, request, spawnServer, type ChildServer } from "../helpers/child-server.js";
import { tempDir } from "../helpers/pool.js";
import { login } from "../helpers/server.js";
import { convertStories, storiesSkipReason } from "../helpers/stories.js";
import { waitUntil } from "../helpers/wait.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the shutdown test: ${skip}`);
const pgSkip = postgresSkipReason();
const kinds: { kind: "pglite" | "postgres" }[] = [{ kind: "pglite" }];
if (!pgSkip || process.env.QUIVER_REQUIRE_POSTGRES === "1") kinds.push({ kind: "postgres" });
else console.log(`Skipping the PostgreSQL half of the shutdown test: ${pgSkip}`);

const STREAMS = 96;
const MAX_TOKENS = 200;
const GRACE_SECONDS = 3;

(skip ? describe.skip : describe).each(kinds)("SIGTERM under load ($kind)", ({ kind }) => {
  let modelDir: string;
  let server: ChildServer | undefined;
  beforeAll(() => {
    modelDir = convertStories();
  });
  afterAll(async () => {
    await killServer(server);
  });

  test("running streams finish or end with 'shutdown', new ones get SHUTTING_DOWN, usage equals delivery", async () => {
    const databaseUrl = kind === "postgres" ? await freshPostgresDatabase() : undefined;
    const dataDir = tempDir("shutdown-data");
    // Eight sequences at a time (QUIVER_MAX_BATCH): the streams outlast the grace period.
    server = await spawnServer({
      QUIVER_MODEL: modelDir,
      QUIVER_DATA_DIR: dataDir,
      QUIVER_SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS),
      QUIVER_MAX_BATCH: "8",
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    });
    const token = await login(server.url);
    const streams = Array.from({ length: STREAMS }, (_, i) =>
      openStream(server!.url, token, { prompt: `A small cat named ${i}`, max_tokens: MAX_TOKENS, temperature: 0, ignore_eos: true }),
    );
    // The first wave has begun: it finishes within the grace period, later ones cannot.
    await waitUntil(
      "every stream started and the first are generating",
      () => streams.every((s) => s.id !== undefined) && streams.some((s) => s.tokens >= 10),
      30_000,
    );
    const signalledAt = Date.now();
    server.proc.kill("SIGTERM");

    // During the grace period: new generations refused, with a code and a wait; /healthz says why.
    await waitUntil("the shutdown began", () => server!.log.some((l) => /SIGTERM: shutting down/.test(l)), 5_000);
    const refused = openStream(server.url, token, { prompt: "Once upon a time", max_tokens: 8 });
    await refused.done;
    expect(refused).toMatchObject({ status: 503, error: { code: "SHUTTING_DOWN" } });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    const health = await request(server.url, "/healthz");
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ problems: [{ component: "shutdown" }] });

    await Promise.all(streams.map((s) => s.done));
    const { code } = await server.exited;
    expect(code).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan((GRACE_SECONDS + 15) * 1000);
    // Every stream ended with a finish reason: finished ones "length", the others "shutdown".
    for (const s of streams) {
      expect(s.status).toBe(200);
      expect(s.finish).toBeDefined();
      // The closing usage counts what came (a last token may have had no text of its own).
      expect(s.usage!.completion_tokens).toBeGreaterThanOrEqual(s.tokens);
      s.tokens = s.usage!.completion_tokens;
    }
    const finished = streams.filter((s) => s.tokens === MAX_TOKENS);
    const ended = streams.filter((s) => s.tokens < MAX_TOKENS);
    expect(finished.length).toBeGreaterThan(0);
    // How many the grace period cut depends on the machine's speed (on a fast one every wave
    // may finish in time); each one it cut must say so, and none may lose usage (below).
    console.log(`shutdown (${kind}): ${finished.length} streams finished within the grace period, ${ended.length} ended by it`);
    for (const s of ended) if (s.quiverFinish !== undefined) expect(s.quiverFinish).toBe("shutdown");

    // No usage lost: every record ended, with the usage its client received, in its usage row too.
    const catalog: Catalog = await openCatalog(databaseUrl ? { databaseUrl } : { dataDir: `${dataDir}/db` });
    try {
      const rows = await catalog.prisma.$queryRaw<
        { id: string; status: string; finishReason: string; errorCode: string | null; tokensIn: number; tokensOut: number; usageIn: number; usageOut: number }[]
      >`
        SELECT g.id::text, g.status::text, g."finishReason", g."errorCode", g."tokensIn", g."tokensOut", u."tokensIn" AS "usageIn", u."tokensOut" AS "usageOut"
        FROM "Generation" g JOIN "UsageEvent" u ON u."generationId" = g.id`;
      const byId = new Map(rows.map((r) => [r.id, r]));
      expect(rows).toHaveLength(STREAMS);
      const [reservations] = await catalog.prisma.$queryRaw<{ n: number }[]>`SELECT COUNT(*)::int AS n FROM "QuotaReservation"`;
      expect(reservations!.n).toBe(0);
      for (const s of streams) {
        const r = byId.get(s.id!)!;
        expect({ tokensOut: r.tokensOut, usageOut: r.usageOut, usageIn: r.usageIn }).toEqual({ tokensOut: s.tokens, usageOut: s.tokens, usageIn: r.tokensIn });
        if (s.tokens === MAX_TOKENS) expect(r).toMatchObject({ status: "DONE", finishReason: "length" });
        else expect(r).toMatchObject({ status: "FAILED", finishReason: "shutdown", errorCode: "SHUTDOWN" });
      }
      console.log(
        `shutdown (${kind}): ${finished.length} streams finished in the grace period, ${ended.length} ended by the shutdown (${ended.filter((s) => s.tokens > 0).length} mid-stream)`,
      );
    } finally {
      await catalog.close();
    }
  }, 120_000);
});
