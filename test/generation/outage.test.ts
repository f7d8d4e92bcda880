// A database outage under load loses nothing and needs no restart. `quiver serve` (a child
// process, on stories260K) runs on a PostgreSQL server of this test's own (scripts/postgres.sh,
// never the shared one); 32 streams (and one GraphQL subscription) run twice at temperature 0:
// once as the reference, once with the server stopped (pg_ctl stop -m fast) mid-load, for ten
// seconds or until they have all ended if that takes longer. The streams in flight complete exactly (same text, same token count); a new
// request meanwhile answers 503 DATABASE_UNAVAILABLE with Retry-After (OpenAI route and
// GraphQL over HTTP; a new subscription gets the code) and /healthz answers 503; once the server is started again the API serves
// without a restart and the usage written (records and usage rows) equals what was
// delivered. Without the outbox the streams' usage is lost (the final write failed and was
// only logged) and the streams stall or fail; without the gate new requests answer INTERNAL.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import { openCatalog, type Catalog } from "../../apps/api/src/catalog/database.js";
import { repoRoot } from "../helpers/browser.js";
import { killServer, openStream, request, spawnServer, type ChildServer, type ClientStream } from "../helpers/child-server.js";
import { tempDir } from "../helpers/pool.js";
import { login } from "../helpers/server.js";
import { convertStories, storiesSkipReason } from "../helpers/stories.js";
import { waitUntil } from "../helpers/wait.js";

const run = promisify(execFile);
const script = path.join(repoRoot, "scripts", "postgres.sh");
const dir = path.join(repoRoot, ".tmp", `postgres-outage-${process.pid}`);
const postgres = (cmd: "start" | "stop" | "halt" | "resume") => run("bash", [script, cmd, dir], { encoding: "utf8" });

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the database outage test: ${skip}`);

const STREAMS = 32;
const MAX_TOKENS = 400;
const OUTAGE_MS = 10_000;

interface Ev {
  delta: string | null;
  done: boolean;
  finishReason: string | null;
  usage: { tokensOut: number } | null;
}

(skip ? describe.skip : describe)("a database outage under load (PostgreSQL)", () => {
  let url: string | undefined;
  let pgSkip: string | undefined;
  let server: ChildServer | undefined;
  let client: Client | undefined;

  beforeAll(async () => {
    try {
      url = /DATABASE_URL=(\S+)/.exec((await postgres("start")).stdout)?.[1];
      if (!url) pgSkip = "scripts/postgres.sh printed no DATABASE_URL";
    } catch (err) {
      pgSkip = ((err as { stderr?: string }).stderr || (err as Error).message).trim();
    }
    if (pgSkip) {
      if (process.env.QUIVER_REQUIRE_POSTGRES === "1")
        throw new Error(`PostgreSQL is required here (QUIVER_REQUIRE_POSTGRES=1) but its server could not start: ${pgSkip}`);
      console.log(`Skipping the database outage test: ${pgSkip}`);
    }
  }, 60_000);
  afterAll(async () => {
    await client?.dispose();
    await killServer(server);
    await postgres("stop").catch(() => undefined);
  });

  function subscribe(input: Record<string, unknown>): { events: Ev[]; done: Promise<void> } {
    const events: Ev[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client!.subscribe<{ generate: Ev }>(
        { query: `subscription($i: GenerateInput!) { generate(input: $i) { delta done finishReason usage { tokensOut } } }`, variables: { i: input } },
        {
          next: (v) => (v.errors ? reject(new Error(JSON.stringify(v.errors))) : events.push(v.data!.generate)),
          error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
          complete: () => resolve(),
        },
      );
    });
    return { events, done };
  }
  const gqlText = (evs: Ev[]) => evs.map((e) => e.delta ?? "").join("");

  test("streams in flight complete exactly, new requests get DATABASE_UNAVAILABLE, usage equals delivery, no restart", async () => {
    if (pgSkip) return;
    server = await spawnServer({ QUIVER_MODEL: convertStories(), QUIVER_DATA_DIR: tempDir("outage-data"), DATABASE_URL: url! });
    const token = await login(server.url);
    client = createClient({
      url: server.url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: false,
    });
    const bodies = Array.from({ length: STREAMS }, (_, i) => ({
      prompt: `The little dog number ${i} ran`,
      max_tokens: MAX_TOKENS,
      temperature: 0,
      ignore_eos: true,
    }));
    const wsInput = { prompt: "The old owl said", strategy: "NONE", maxTokens: MAX_TOKENS, temperature: 0, ignoreEos: true };

    // The reference run.
    const reference = bodies.map((b) => openStream(server!.url, token, b));
    const wsReference = subscribe(wsInput);
    await Promise.all([...reference.map((s) => s.done), wsReference.done]);
    for (const s of reference) expect(s).toMatchObject({ status: 200, finish: "length", tokens: MAX_TOKENS, usage: { completion_tokens: MAX_TOKENS } });

    // The same under an outage.
    const streams = bodies.map((b) => openStream(server!.url, token, b));
    const ws = subscribe(wsInput);
    await waitUntil(
      "every stream started and some are mid-way",
      () => streams.every((s) => s.id !== undefined) && streams.some((s) => s.tokens >= 40) && ws.events.length > 5,
      30_000,
    );
    const stoppedAt = Date.now();
    await postgres("halt");

    // New requests are refused with the code and a wait, on both transports.
    const refused = openStream(server.url, token, bodies[0]!);
    await refused.done;
    expect(refused).toMatchObject({ status: 503, error: { code: "DATABASE_UNAVAILABLE" } });
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    const gql = await request(server.url, "/graphql", { token, body: { query: "{ me { email } }" } });
    expect(gql.status).toBe(503);
    expect(gql.body).toMatchObject({ errors: [{ extensions: { code: "DATABASE_UNAVAILABLE" } }] });
    expect(Number(gql.retryAfter)).toBeGreaterThan(0);
    await expect(subscribe(wsInput).done).rejects.toThrow(/DATABASE_UNAVAILABLE/);
    await waitUntil("/healthz names the database", async () => {
      const h = await request(server!.url, "/healthz");
      return h.status === 503;
    });

    // The streams in flight complete while the database is still down (it stays down until
    // they have, ten seconds at least), exactly as without the outage.
    await Promise.all([...streams.map((s) => s.done), ws.done]);
    streams.forEach((s, i) => {
      expect({ i, status: s.status, finish: s.finish, tokens: s.tokens, usage: s.usage?.completion_tokens }).toEqual({
        i,
        status: 200,
        finish: "length",
        tokens: MAX_TOKENS,
        usage: MAX_TOKENS,
      });
      expect(s.text).toBe(reference[i]!.text);
    });
    expect(streams.some((s) => s.lastTokenAt > stoppedAt)).toBe(true);
    expect(gqlText(ws.events)).toBe(gqlText(wsReference.events));
    expect(ws.events.at(-1)).toMatchObject({ done: true, finishReason: "length", usage: { tokensOut: MAX_TOKENS } });

    // Ten seconds of outage, then the server comes back and so does the API, without a restart.
    await new Promise((r) => setTimeout(r, Math.max(0, stoppedAt + OUTAGE_MS - Date.now())));
    await postgres("resume");
    let again: ClientStream | undefined;
    await waitUntil(
      "the API serves again",
      async () => {
        again = openStream(server!.url, token, { prompt: "Once upon a time", max_tokens: 8, temperature: 0, ignore_eos: true });
        await again.done;
        return again.status === 200;
      },
      20_000,
    );
    expect(again).toMatchObject({ finish: "length", tokens: 8 });
    await waitUntil("/healthz is ok", async () => (await request(server!.url, "/healthz")).status === 200);

    // What was delivered is what is billed: records and usage rows, written once the server was back.
    const catalog: Catalog = await openCatalog({ databaseUrl: url! });
    try {
      const ids = streams.map((s) => s.id!);
      await waitUntil(
        "the usage outbox flushed",
        async () => {
          const [r] = await catalog.prisma.$queryRaw<
            { n: number }[]
          >`SELECT COUNT(*)::int AS n FROM "Generation" WHERE id::text = ANY(${ids}) AND status = 'DONE'`;
          return r!.n === ids.length;
        },
        10_000,
      );
      const rows = await catalog.prisma.$queryRaw<
        { id: string; tokensIn: number; tokensOut: number; usageIn: number; usageOut: number; reservations: number }[]
      >`
        SELECT g.id::text, g."tokensIn", g."tokensOut", u."tokensIn" AS "usageIn", u."tokensOut" AS "usageOut",
          (SELECT COUNT(*)::int FROM "QuotaReservation" r WHERE r."generationId" = g.id) AS reservations
        FROM "Generation" g JOIN "UsageEvent" u ON u."generationId" = g.id WHERE g.id::text = ANY(${ids})`;
      expect(rows).toHaveLength(STREAMS);
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const s of streams) {
        const r = byId.get(s.id!)!;
        expect({ tokensOut: r.tokensOut, usageOut: r.usageOut, usageIn: r.usageIn, reservations: r.reservations }).toEqual({
          tokensOut: s.tokens,
          usageOut: s.tokens,
          usageIn: s.usage!.prompt_tokens,
          reservations: 0,
        });
      }
      const delivered = streams.reduce((a, s) => a + s.tokens, 0);
      expect(rows.reduce((a, r) => a + r.usageOut, 0)).toBe(delivered);
    } finally {
      await catalog.close();
    }
    expect(server.log.join("\n")).toMatch(/\[database\] back in reach/);
    console.log(
      `outage: ${streams.filter((s) => s.lastTokenAt > stoppedAt).length} of ${STREAMS} streams received tokens while the database was down; the server said:\n${server.log.filter((l) => /\[(database|usage|instance|recovery)\]/.test(l)).join("\n")}`,
    );
    await client.dispose();
    client = undefined;
    server.proc.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  }, 120_000);
});
