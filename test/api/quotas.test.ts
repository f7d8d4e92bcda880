// Quotas over the real API, on PGlite and PostgreSQL: parallel requests never pass a
// team's concurrency, requests-per-minute or storage quota (also across two API processes on
// one database); a team flooding the generation queue leaves room for the others; refusals
// carry Retry-After; quotas are the server administrators' to set, not the team's; API keys
// may have lower limits; team creation can be turned off. Generation runs on a fake engine
// whose steps the tests hold (test/helpers/generation.ts), so admitted generations stay
// running exactly as long as a test needs.
import { statSync } from "node:fs";
import path from "node:path";
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { catalogKinds, freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import { gql, login, startTestServer } from "../helpers/server.js";
import { SAMPLES, adapterFiles, startPoolServer, upload, writeAdapter } from "../helpers/pool.js";
import { installFakeGeneration, type GatedEngine } from "../helpers/generation.js";

interface Answer {
  status: number;
  retryAfter: string | null;
  body: {
    data?: Record<string, { id: string } | null> | null;
    errors?: { message: string; extensions: { code: string; details?: Record<string, unknown> } }[];
  };
}

const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const GENERATE = `mutation($i: GenerateInput!) { generate(input: $i) { id } }`;
const SMALL = { prompt: "", strategy: "NONE", maxTokens: 2 };

/** POST /graphql, keeping the Retry-After header. */
async function post(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth(token) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as Answer["body"] };
}

const generate = (url: string, token: string, teamId: string, input: Record<string, unknown> = SMALL) =>
  post(url, token, GENERATE, { i: { ...input, teamId } });
const admitted = (answers: Answer[]) => answers.filter((a) => a.body.data?.generate);
const refused = (answers: Answer[]) => answers.filter((a) => a.body.errors?.length);
const codeOf = (a: Answer) => a.body.errors?.[0]?.extensions.code;
const detailsOf = (a: Answer) => a.body.errors?.[0]?.extensions.details ?? {};

async function newTeam(url: string, admin: string, slug: string, quotas: Record<string, number | null>): Promise<string> {
  const t = await gql<{ createTeam: { id: string } }>(
    url,
    `mutation($s: String!) { createTeam(name: "Quota team", slug: $s) { id } }`,
    { s: slug },
    auth(admin),
  );
  const id = t.data!.createTeam.id;
  const q = await gql(url, `mutation($t: ID!, $q: QuotaInput!) { setTeamQuotas(teamId: $t, quotas: $q) { id } }`, { t: id, q: quotas }, auth(admin));
  expect(q.errors).toBeUndefined();
  return id;
}

describe.each(catalogKinds())("quotas under concurrency ($kind)", ({ open }) => {
  let quiver: Quiver;
  let url: string;
  let admin: string;
  let engine: GatedEngine;

  beforeAll(async () => {
    ({ quiver } = await startPoolServer(await open(), { QUIVER_UPLOADS_PER_TEAM: "50", QUIVER_UPLOADS_PER_SERVER: "50" }));
    url = quiver.api.url;
    admin = await login(url);
    ({ engine } = installFakeGeneration(quiver));
  }, 120_000);
  afterAll(async () => {
    engine?.open();
    await quiver?.close();
  });

  const reservations = (teamId: string) => quiver.services.catalog.prisma.quotaReservation.count({ where: { teamId } });

  test("50 parallel generations against a concurrency quota of 3: exactly 3 run; their end frees the slots", async () => {
    const teamId = await newTeam(url, admin, "concurrency", { concurrentGenerations: 3 });
    engine.hold();
    let answers: Answer[];
    try {
      answers = await Promise.all(Array.from({ length: 50 }, () => generate(url, admin, teamId)));
      expect(admitted(answers)).toHaveLength(3);
      expect(refused(answers)).toHaveLength(47);
      for (const a of refused(answers)) {
        expect(codeOf(a)).toBe("QUOTA_EXCEEDED");
        expect(detailsOf(a)).toMatchObject({ quota: "concurrentGenerations", limit: 3, used: 3, retryAfterSeconds: 1 });
        expect(a.retryAfter).toBe("1");
      }
      expect(await reservations(teamId)).toBe(3);
    } finally {
      engine.open();
    }
    await quiver.services.generation!.idle();
    expect(await reservations(teamId)).toBe(0);
    const rows = await quiver.services.catalog.prisma.generation.findMany({ where: { teamId }, select: { status: true } });
    expect(rows.map((r) => r.status)).toEqual(["DONE", "DONE", "DONE"]);
    expect(admitted(await Promise.all(Array.from({ length: 5 }, () => generate(url, admin, teamId))))).not.toHaveLength(0);
    await quiver.services.generation!.idle();
  });

  test("50 parallel requests against 5 a minute: exactly 5 pass; refusals say when to retry, over GraphQL and the OpenAI routes", async () => {
    const teamId = await newTeam(url, admin, "per-minute", { requestsPerMinute: 5 });
    const answers = await Promise.all(Array.from({ length: 50 }, () => generate(url, admin, teamId)));
    expect(admitted(answers)).toHaveLength(5);
    for (const a of refused(answers)) {
      expect(codeOf(a)).toBe("QUOTA_EXCEEDED");
      expect(detailsOf(a)).toMatchObject({ quota: "requestsPerMinute", limit: 5 });
      const seconds = Number(a.retryAfter);
      expect(seconds).toBeGreaterThanOrEqual(1);
      expect(seconds).toBeLessThanOrEqual(60);
      expect(detailsOf(a).retryAfterSeconds).toBe(seconds);
    }
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-quiver-team": teamId, ...auth(admin) },
      body: JSON.stringify({ model: "base", prompt: "", max_tokens: 2 }),
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await res.json()) as { error: { code: string; type: string } }).error).toMatchObject({ code: "QUOTA_EXCEEDED", type: "rate_limit_error" });
    await quiver.services.generation!.idle();
  });

  test("parallel uploads against a storage quota that fits 3 adapters store exactly 3", async () => {
    const dir = writeAdapter({ seed: 11 });
    const size = statSync(path.join(dir, "adapter_model.safetensors")).size;
    const teamId = await newTeam(url, admin, "storage", { storageBytes: 3 * size + Math.floor(size / 2) });
    const files = adapterFiles(dir);
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(url, admin, { name: `stored-${i}`, samples: SAMPLES, teamId }, files)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    const over = results.filter((r) => r.status !== 201);
    expect(over).toHaveLength(5);
    for (const r of over) expect(r.body.errors![0]!.extensions).toMatchObject({ code: "QUOTA_EXCEEDED", details: { quota: "storageBytes" } });
    await quiver.services.pool.idle();
    const versions = await quiver.services.catalog.prisma.adapterVersion.aggregate({ where: { adapter: { teamId } }, _sum: { byteSize: true }, _count: true });
    expect(versions._count).toBe(3);
    expect(Number(versions._sum.byteSize)).toBe(3 * size);
    expect(await reservations(teamId)).toBe(0);
  }, 60_000);
});

describe("quota administration, API key limits and the queue share (pglite)", () => {
  let quiver: Quiver;
  let url: string;
  let admin: string;
  let owner: string;
  let ownTeam: string;
  let defaultTeam: string;
  const engines: GatedEngine[] = [];

  beforeAll(async () => {
    quiver = await startTestServer(await openCatalog({}), { QUIVER_QUOTA_DEFAULT_CONCURRENT_GENERATIONS: "7", QUIVER_QUOTA_MAX_CONCURRENT_GENERATIONS: "20" });
    url = quiver.api.url;
    admin = await login(url);
    engines.push(installFakeGeneration(quiver).engine);
    defaultTeam = (await gql<{ teams: { id: string }[] }>(url, `{ teams { id } }`, {}, auth(admin))).data!.teams[0]!.id;
    // A user who is no server administrator, owning a team of their own.
    const inv = await gql<{ inviteMember: { token: string } }>(
      url,
      `mutation($t: ID!) { inviteMember(teamId: $t, email: "owner@example.test", role: VIEWER) { token } }`,
      { t: defaultTeam },
      auth(admin),
    );
    const acc = await gql<{ acceptInvitation: { token: string } }>(
      url,
      `mutation($k: String!) { acceptInvitation(token: $k, password: "a-long-password-1") { token } }`,
      { k: inv.data!.inviteMember.token },
    );
    owner = acc.data!.acceptInvitation.token;
    const t = await gql<{ createTeam: { id: string } }>(url, `mutation { createTeam(name: "Owned", slug: "owned") { id } }`, {}, auth(owner));
    ownTeam = t.data!.createTeam.id;
    // New teams start with the server's default quotas (here from the environment).
    expect(await quotasOf(ownTeam, owner)).toMatchObject({ concurrentGenerations: 7 });
  }, 60_000);
  afterAll(async () => {
    for (const e of engines) e.open();
    await quiver?.close();
  });

  const quotasOf = async (teamId: string, token: string) =>
    (
      await gql<{ team: { quotas: Record<string, number | null> } }>(
        url,
        `query($t: ID!) { team(id: $t) { quotas { tokensPerDay requestsPerMinute concurrentGenerations storageBytes } } }`,
        { t: teamId },
        auth(token),
      )
    ).data!.team.quotas;

  const SETTINGS = `defaultQuotas { tokensPerDay requestsPerMinute concurrentGenerations storageBytes } maxQuotas { concurrentGenerations requestsPerMinute } teamCreation updatedAt`;

  test("server settings are for server administrators; the environment's apply until one saves others", async () => {
    expect((await gql<{ me: { isAdmin: boolean } }>(url, `{ me { isAdmin } }`, {}, auth(admin))).data!.me.isAdmin).toBe(true);
    expect((await gql<{ me: { isAdmin: boolean } }>(url, `{ me { isAdmin } }`, {}, auth(owner))).data!.me.isAdmin).toBe(false);
    const read = await gql<{ serverSettings: Record<string, unknown> }>(url, `{ serverSettings { ${SETTINGS} } }`, {}, auth(admin));
    expect(read.data!.serverSettings).toEqual({
      defaultQuotas: { tokensPerDay: null, requestsPerMinute: null, concurrentGenerations: 7, storageBytes: null },
      maxQuotas: { concurrentGenerations: 20, requestsPerMinute: null },
      teamCreation: true,
      updatedAt: null,
    });
    expect((await gql(url, `{ serverSettings { teamCreation } }`, {}, auth(owner))).errors![0]!.extensions!.code).toBe("FORBIDDEN");
    expect((await gql(url, `{ serverSettings { teamCreation } }`)).errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
    const key = await gql<{ createApiKey: { secret: string } }>(
      url,
      `mutation($t: ID!) { createApiKey(teamId: $t, name: "admin-key", role: OWNER) { secret } }`,
      { t: defaultTeam },
      auth(admin),
    );
    expect((await gql(url, `{ serverSettings { teamCreation } }`, {}, auth(key.data!.createApiKey.secret))).errors![0]!.extensions!.code).toBe("FORBIDDEN");
    const byOwner = await gql(url, `mutation { updateServerSettings(input: { teamCreation: false }) { teamCreation } }`, {}, auth(owner));
    expect(byOwner.errors![0]!.extensions!.code).toBe("FORBIDDEN");
    // Defaults stay within the caps.
    const tooHigh = await gql(
      url,
      `mutation { updateServerSettings(input: { defaultQuotas: { concurrentGenerations: 21 } }) { teamCreation } }`,
      {},
      auth(admin),
    );
    expect(tooHigh.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", details: { argument: "defaultQuotas.concurrentGenerations" } });
  });

  test("team creation off refuses createTeam for everyone but server administrators; new teams get the default quotas", async () => {
    const off = await gql<{ updateServerSettings: { teamCreation: boolean; defaultQuotas: { requestsPerMinute: number } } }>(
      url,
      `mutation { updateServerSettings(input: { teamCreation: false, defaultQuotas: { requestsPerMinute: 100 } }) { teamCreation defaultQuotas { requestsPerMinute } } }`,
      {},
      auth(admin),
    );
    expect(off.data!.updateServerSettings).toEqual({ teamCreation: false, defaultQuotas: { requestsPerMinute: 100 } });
    const refusedTeam = await gql(url, `mutation { createTeam(name: "No", slug: "not-allowed") { id } }`, {}, auth(owner));
    expect(refusedTeam.errors![0]!.extensions).toMatchObject({ code: "FORBIDDEN", details: { reason: "TEAM_CREATION_DISABLED" } });
    const byAdmin = await gql<{ createTeam: { id: string } }>(url, `mutation { createTeam(name: "Yes", slug: "by-admin") { id } }`, {}, auth(admin));
    expect(await quotasOf(byAdmin.data!.createTeam.id, admin)).toEqual({
      requestsPerMinute: 100,
      concurrentGenerations: 7,
      tokensPerDay: null,
      storageBytes: null,
    });
    await gql(url, `mutation { updateServerSettings(input: { teamCreation: true }) { teamCreation } }`, {}, auth(admin));
    expect((await gql(url, `mutation { createTeam(name: "Again", slug: "allowed-again") { id } }`, {}, auth(owner))).errors).toBeUndefined();
  });

  test("an OWNER cannot set its team's quotas; a server administrator can, up to the maximum, and lowering a maximum lowers the teams above it", async () => {
    const oldWay = await gql(url, `mutation($t: ID!) { updateTeam(id: $t, quotas: { concurrentGenerations: 1000 }) { id } }`, { t: ownTeam }, auth(owner));
    expect(oldWay.errors![0]!.extensions!.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const set = `mutation($t: ID!, $q: QuotaInput!) { setTeamQuotas(teamId: $t, quotas: $q) { quotas { concurrentGenerations tokensPerDay storageBytes } } }`;
    expect((await gql(url, set, { t: ownTeam, q: { concurrentGenerations: 1000 } }, auth(owner))).errors![0]!.extensions!.code).toBe("FORBIDDEN");
    const above = await gql(url, set, { t: ownTeam, q: { concurrentGenerations: 21 } }, auth(admin));
    expect(above.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", details: { argument: "quotas.concurrentGenerations", maximum: 20 } });
    expect((await gql(url, set, { t: ownTeam, q: { concurrentGenerations: null } }, auth(admin))).errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
    const ok = await gql<{ setTeamQuotas: { quotas: Record<string, number | null> } }>(
      url,
      set,
      { t: ownTeam, q: { concurrentGenerations: 12, tokensPerDay: 5000, storageBytes: 1e9 } },
      auth(admin),
    );
    expect(ok.data!.setTeamQuotas.quotas).toEqual({ concurrentGenerations: 12, tokensPerDay: 5000, storageBytes: 1e9 });
    const missing = await gql(url, set, { t: "00000000-0000-4000-8000-000000000000", q: { tokensPerDay: 1 } }, auth(admin));
    expect(missing.errors![0]!.extensions!.code).toBe("NOT_FOUND");
    // The team sees who changed its quotas.
    const log = await gql<{ team: { auditLog: { action: string; actor: { email: string } | null }[] } }>(
      url,
      `query($t: ID!) { team(id: $t) { auditLog(first: 5) { action actor { email } } } }`,
      { t: ownTeam },
      auth(owner),
    );
    expect(log.data!.team.auditLog[0]).toEqual({ action: "team.quotas", actor: { email: "admin@example.test" } });
    await gql(url, `mutation { updateServerSettings(input: { maxQuotas: { concurrentGenerations: 10 } }) { teamCreation } }`, {}, auth(admin));
    expect(await quotasOf(ownTeam, owner)).toMatchObject({ concurrentGenerations: 10, tokensPerDay: 5000 });
    const settingsAudit = await quiver.services.catalog.prisma.auditLogEntry.findFirst({
      where: { action: "server.settings" },
      orderBy: { createdAt: "desc" },
    });
    expect(settingsAudit).toMatchObject({ teamId: null, metadata: { teamsClamped: { concurrentGenerations: expect.any(Number) } } });
  });

  test("an API key's lower limits apply to the requests made with it, set at creation or later", async () => {
    const created = await gql<{ createApiKey: { secret: string; apiKey: { id: string; limits: Record<string, number | null> } } }>(
      url,
      `mutation($t: ID!) { createApiKey(teamId: $t, name: "limited", role: MEMBER, limits: { concurrentGenerations: 1 }) { secret apiKey { id limits { concurrentGenerations requestsPerMinute tokensPerDay } } } }`,
      { t: ownTeam },
      auth(owner),
    );
    const { secret, apiKey } = created.data!.createApiKey;
    expect(apiKey.limits).toEqual({ concurrentGenerations: 1, requestsPerMinute: null, tokensPerDay: null });
    const engine = engines[0]!;
    engine.hold();
    try {
      const viaKey = await Promise.all(Array.from({ length: 6 }, () => generate(url, secret, ownTeam)));
      expect(admitted(viaKey)).toHaveLength(1);
      for (const a of refused(viaKey)) expect(detailsOf(a)).toMatchObject({ quota: "concurrentGenerations", scope: "apiKey", limit: 1, apiKeyId: apiKey.id });
      // The team's own quota (10) still has room for its members.
      expect(admitted(await Promise.all(Array.from({ length: 3 }, () => generate(url, owner, ownTeam))))).toHaveLength(3);
      const raised = await gql<{ updateApiKeyLimits: { limits: { concurrentGenerations: number } } }>(
        url,
        `mutation($id: ID!) { updateApiKeyLimits(id: $id, limits: { concurrentGenerations: 2 }) { limits { concurrentGenerations } } }`,
        { id: apiKey.id },
        auth(owner),
      );
      expect(raised.data!.updateApiKeyLimits.limits.concurrentGenerations).toBe(2);
      expect(admitted(await Promise.all(Array.from({ length: 4 }, () => generate(url, secret, ownTeam))))).toHaveLength(1);
      // Keys do not change keys, and other teams' keys are not found.
      expect(
        (await gql(url, `mutation($id: ID!) { updateApiKeyLimits(id: $id, limits: { tokensPerDay: 1 }) { id } }`, { id: apiKey.id }, auth(secret))).errors![0]!
          .extensions!.code,
      ).toBe("FORBIDDEN");
    } finally {
      engine.open();
    }
    await quiver.services.generation!.idle();
    const actions = (
      await quiver.services.catalog.prisma.auditLogEntry.findMany({ where: { teamId: ownTeam, targetId: apiKey.id }, select: { action: true } })
    ).map((a) => a.action);
    expect(actions.sort()).toEqual(["apikey.create", "apikey.limits"]);
  });

  test("one team flooding the generation queue leaves room for another team's requests; OVERLOADED says when to retry", async () => {
    // One request in the batch at a time, 4 waiting at most, a team at most half of them.
    const { engine, scheduler } = installFakeGeneration(quiver, { maxBatch: 1, maxQueue: 4, teamShare: 0.5 });
    engines.push(engine);
    engine.hold();
    let flood: Answer[];
    let other: Answer;
    try {
      const first = await generate(url, admin, defaultTeam);
      expect(admitted([first])).toHaveLength(1);
      while (scheduler.stats.running < 1) await new Promise((r) => setTimeout(r, 5));
      flood = await Promise.all(Array.from({ length: 10 }, () => generate(url, admin, defaultTeam)));
      expect(admitted(flood)).toHaveLength(2);
      for (const a of refused(flood)) {
        expect(codeOf(a)).toBe("OVERLOADED");
        expect(detailsOf(a)).toMatchObject({ scope: "team", limit: 2, queued: 2 });
        expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(detailsOf(a).retryAfterSeconds).toBe(Number(a.retryAfter));
      }
      const openai = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-quiver-team": defaultTeam, ...auth(admin) },
        body: JSON.stringify({ model: "base", prompt: "", max_tokens: 2 }),
      });
      expect(openai.status).toBe(503);
      expect(Number(openai.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      // The other team still gets in.
      other = await generate(url, owner, ownTeam);
      expect(admitted([other])).toHaveLength(1);
    } finally {
      engine.open();
    }
    await quiver.services.generation!.idle();
    const record = await quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id: other.body.data!.generate!.id } });
    expect(record.status).toBe("DONE");
    // Refused requests hold nothing.
    expect(await quiver.services.catalog.prisma.quotaReservation.count()).toBe(0);
  });
});

const pgSkip = postgresSkipReason();
const requirePostgres = process.env.QUIVER_REQUIRE_POSTGRES === "1";
if (pgSkip && !requirePostgres) console.log(`Skipping the two-process quota test: ${pgSkip}`);

(pgSkip && !requirePostgres ? describe.skip : describe)("two API processes on one PostgreSQL database", () => {
  test("together they admit exactly 3 of 50 parallel generations against a concurrency quota of 3", async () => {
    if (pgSkip) throw new Error(`PostgreSQL is required here (QUIVER_REQUIRE_POSTGRES=1) but unavailable: ${pgSkip}`);
    const databaseUrl = await freshPostgresDatabase();
    const a = await startTestServer(await openCatalog({ databaseUrl }));
    const b = await startTestServer(await openCatalog({ databaseUrl }));
    const engines = [installFakeGeneration(a).engine, installFakeGeneration(b).engine];
    try {
      const admin = await login(a.api.url);
      const teamId = await newTeam(a.api.url, admin, "two-processes", { concurrentGenerations: 3 });
      for (const e of engines) e.hold();
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => generate((i % 2 ? a : b).api.url, admin, teamId)));
      expect(admitted(answers)).toHaveLength(3);
      expect(refused(answers).every((x) => codeOf(x) === "QUOTA_EXCEEDED")).toBe(true);
      for (const e of engines) e.open();
      await a.services.generation!.idle();
      await b.services.generation!.idle();
      expect(await a.services.catalog.prisma.quotaReservation.count({ where: { teamId } })).toBe(0);
    } finally {
      for (const e of engines) e.open();
      await a.close();
      await b.close();
    }
  }, 120_000);
});
