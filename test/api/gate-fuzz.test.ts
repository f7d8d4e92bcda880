/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// The gate, fuzzed: random callers (users with various roles in one or two teams, API keys of
// each role, a user in no team, a revoked key, anonymous) send random operations (queries with
// random nesting of neighbours, samples, versions, team and the adapters of generations, pool
// maps and usage; mutations that name other teams' objects; pool-event and generation
// subscriptions; the OpenAI routes; uploads) with random team arguments and team headers (own,
// another, nonexistent, malformed, none). Invariants, for every case:
//   1. no response carries a marker of a team the caller is not in (test/helpers/gate-fixture.ts
//      plants them in every team's private adapters and generations);
//   2. an operation that names a team the caller is not in (argument, header or
//      connectionParams.team) answers no data;
//   3. a write to another team's adapter never succeeds.
// The seed is printed; QUIVER_FUZZ_SEED=<seed> replays the same cases (QUIVER_FUZZ_CASES sets
// how many).
import {
  ask,
  bearer,
  createKey,
  foreignMarkers,
  inviteUser,
  startGateFixture,
  subscribe,
  uploadAs,
  TEAM_KEYS,
  type GateFixture,
  type Role,
  type TeamKey,
} from "../helpers/gate-fixture.js";

const SEED = Number(process.env.QUIVER_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.QUIVER_FUZZ_CASES ?? 2500);
/** Requests in flight at once. */
const CONCURRENCY = 8;
console.log(`gate fuzz: seed ${SEED}, ${CASES} cases (replay with QUIVER_FUZZ_SEED=${SEED})`);

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Principal {
  label: string;
  token?: string;
  /** Teams whose markers it may see (and may name). */
  memberOf: TeamKey[];
  /** Its role per team (API keys: their team only). */
  roles: Partial<Record<TeamKey, Role>>;
}

type Transport = "graphql" | "ws" | "http";

interface Case {
  index: number;
  principal: Principal;
  transport: Transport;
  /** GraphQL document, or HTTP method and route. */
  query: string;
  variables?: Record<string, unknown>;
  /** X-Quiver-Team header, or connectionParams.team. */
  header?: string;
  /** HTTP body (JSON) or form fields (upload). */
  body?: unknown;
  form?: Record<string, string>;
  /** The root field named a team the caller is not in (argument or header): it must answer no data. */
  namesForeignTeam: boolean;
  /** A write aimed at another team's adapter: it must not succeed. */
  foreignWrite: boolean;
  /** The root field whose data invariant 2 and 3 read (GraphQL), if any. */
  root?: string;
}

interface Pools {
  f: GateFixture;
  principals: Principal[];
  adapterIds: string[];
  /** Adapter ids of each team (private and public). */
  adaptersOf: Record<TeamKey, string[]>;
  generationIds: string[];
  adapterNames: string[];
}

const NOWHERE = "00000000-0000-4000-8000-000000000000";
const MALFORMED = ["not-a-team", "team-b", "00000000-0000-0000-0000-00000000000Z", "' OR 1=1 --", "{}"];
const lit = (v: unknown): string => (v === undefined || v === null ? "null" : JSON.stringify(v));

function generate(p: Pools, seed: number, count: number): Case[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const chance = (x: number) => rnd() < x;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));

  /** A team value to name: [value, is it foreign to the principal]. */
  const team = (pr: Principal, allowNone: boolean): [string | undefined, boolean] => {
    const r = rnd();
    const own = pr.memberOf.length ? pr.memberOf : undefined;
    const others = TEAM_KEYS.filter((t) => !pr.memberOf.includes(t));
    if (allowNone && r < 0.3) return [undefined, false];
    if (r < 0.65 && own) return [p.f.teams[pick(own)].id, false];
    if (r < 0.85 && others.length) return [p.f.teams[pick(others)].id, true];
    if (r < 0.93) return [NOWHERE, true];
    return [pick(MALFORMED), true];
  };
  const header = (pr: Principal): [string | undefined, boolean] => (chance(0.55) ? [undefined, false] : team(pr, false));
  const adapterId = () => (chance(0.08) ? pick([NOWHERE, "nope"]) : pick(p.adapterIds));

  function selection(depth: number): string {
    const fields = ["id"];
    if (chance(0.8)) fields.push("name");
    if (chance(0.5)) fields.push("description");
    if (chance(0.4)) fields.push("samples");
    if (chance(0.2)) fields.push("visibility status");
    if (chance(0.3)) fields.push("inPool");
    if (chance(0.2)) fields.push("versions { version contentHash }");
    if (chance(0.25)) fields.push(chance(0.2) ? "team { id name viewerRole members { role user { email } } }" : "team { id name slug viewerRole }");
    if (depth < 2 && chance(depth === 0 ? 0.45 : 0.2))
      fields.push(`neighbours(k: ${int(1, depth === 0 ? 6 : 3)}) { score adapter { ${selection(depth + 1)} } }`);
    return fields.join(" ");
  }

  const queries: ((pr: Principal) => Omit<Case, "index" | "principal" | "transport" | "header"> & { teamArgForeign?: boolean })[] = [
    () => ({ query: `{ r: adapter(id: ${lit(adapterId())}) { ${selection(0)} } }`, root: "r", namesForeignTeam: false, foreignWrite: false }),
    (pr) => {
      const [t, foreign] = team(pr, true);
      const search = chance(0.3) ? `, search: ${lit(pick(["secret", "bsecret", "csecret", "asecret", "public", "x"]))}` : "";
      return {
        query: `{ r: adapters(first: ${int(1, 8)}, teamId: ${lit(t)}, includePublic: ${chance(0.5)}${search}) { totalCount edges { node { ${selection(chance(0.5) ? 1 : 0)} } } } }`,
        root: "r",
        namesForeignTeam: foreign,
        foreignWrite: false,
      };
    },
    () => ({
      query: `{ r: publicAdapters(first: ${int(1, 8)}${chance(0.3) ? `, search: ${lit(pick(["secret", "public", "added"]))}` : ""}) { totalCount edges { node { ${selection(1)} } } } }`,
      root: "r",
      namesForeignTeam: false,
      foreignWrite: false,
    }),
    (pr) => {
      const [t, foreign] = team(pr, true);
      return {
        query: `{ r: poolMap(teamId: ${lit(t)}, includePublic: ${chance(0.5)}) { adapters { id name ${chance(0.5) ? "description samples" : ""} } points { x adapter { name } } } }`,
        root: "r",
        namesForeignTeam: foreign,
        foreignWrite: false,
      };
    },
    (pr) => {
      const [t, foreign] = team(pr, true);
      return {
        query: `{ r: usage(teamId: ${lit(t)}) { totals { requests } topAdapters { name adapterId adapter { ${selection(1)} } } topUsers { email } } }`,
        root: "r",
        namesForeignTeam: foreign,
        foreignWrite: false,
      };
    },
    () => ({
      query: `{ r: generationRecord(id: ${lit(chance(0.1) ? NOWHERE : pick(p.generationIds))}) { id status adapters { score adapter { ${selection(1)} } } } }`,
      root: "r",
      namesForeignTeam: false,
      foreignWrite: false,
    }),
    (pr) => {
      const [t, foreign] = team(pr, false);
      const parts = [
        "id name",
        chance(0.5) ? "viewerRole viewerPermissions" : "",
        chance(0.4) ? "members { role user { email } }" : "",
        chance(0.3) ? "apiKeys { prefix name }" : "",
        chance(0.4) ? "auditLog(first: 20) { action metadata }" : "",
        chance(0.3) ? "quotas { tokensPerDay }" : "",
      ];
      return { query: `{ r: team(id: ${lit(t)}) { ${parts.join(" ")} } }`, root: "r", namesForeignTeam: foreign, foreignWrite: false };
    },
    () => ({ query: `{ r: teams { id name viewerRole } me { email memberships { role team { id name } } } }`, namesForeignTeam: false, foreignWrite: false }),
    // Writes that name other teams' objects or random teams.
    (pr) => {
      const [t, foreign] = team(pr, true);
      return {
        query: `mutation { r: addPublicAdapter(adapterId: ${lit(adapterId())}, teamId: ${lit(t)}) { ${selection(1)} } }`,
        root: "r",
        namesForeignTeam: foreign,
        foreignWrite: false,
      };
    },
    (pr) => {
      const [t, foreign] = team(pr, true);
      return {
        query: `mutation { r: removePublicAdapter(adapterId: ${lit(adapterId())}, teamId: ${lit(t)}) }`,
        root: "r",
        namesForeignTeam: foreign,
        foreignWrite: false,
      };
    },
    (pr) => {
      const others = TEAM_KEYS.filter((k) => !pr.memberOf.includes(k));
      const id = others.length && chance(0.9) ? pick(p.adaptersOf[pick(others)]) : NOWHERE;
      const op = pick([
        `updateAdapter(id: ${lit(id)}, changes: { description: "fuzz" }) { ${selection(0)} }`,
        `setAdapterSamples(id: ${lit(id)}, samples: []) { id }`,
        `disableAdapter(id: ${lit(id)}) { id }`,
        `deleteAdapter(id: ${lit(id)})`,
      ]);
      return { query: `mutation { r: ${op} }`, root: "r", namesForeignTeam: false, foreignWrite: true };
    },
    () => ({
      query: `mutation { r: cancelGeneration(id: ${lit(pick(p.generationIds))}) { id adapters { adapter { ${selection(1)} } } } }`,
      root: "r",
      namesForeignTeam: false,
      foreignWrite: false,
    }),
  ];
  const modelQueries: typeof queries = p.f.storiesSkip
    ? []
    : [
        (pr) => {
          const [t, foreign] = team(pr, true);
          const exclude = chance(0.3) ? `, exclude: ${lit([adapterId()])}` : "";
          return {
            query: `{ r: retrieve(input: ${lit(pick(["A cat in the garden", "A ship on the sea", "A dog", "bsecretsample"]))}, k: ${int(1, 10)}, teamId: ${lit(t)}${exclude}) { score adapter { ${selection(chance(0.5) ? 1 : 0)} } } }`,
            root: "r",
            namesForeignTeam: foreign,
            foreignWrite: false,
          };
        },
        (pr) => {
          const [t, foreign] = team(pr, true);
          const pinned = chance(0.4) ? `, adapterIds: ${lit(Array.from({ length: int(1, 3) }, adapterId))}` : "";
          return {
            query: `mutation { r: generate(input: { prompt: "A cat", strategy: ${pick(["MIXTURE", "SELECTION", "FUSION", "NONE"])}, k: ${int(1, 8)}, maxTokens: 1, teamId: ${lit(t)}${pinned} }) { id adapters { score adapter { ${selection(1)} } } } }`,
            root: "r",
            namesForeignTeam: foreign,
            foreignWrite: false,
          };
        },
      ];

  const cases: Case[] = [];
  for (let index = 0; index < count; index++) {
    const principal = pick(p.principals);
    const r = rnd();
    const [h, headerForeign] = header(principal);
    if (r < 0.06) {
      // Subscriptions over WebSocket, with connectionParams.team.
      const [t, foreign] = team(principal, true);
      const sub = chance(0.6)
        ? {
            query: `subscription { r: poolEvents(teamId: ${lit(t)}) { kind adapterId adapter { ${selection(1)} } } }`,
            namesForeignTeam: foreign || headerForeign,
          }
        : {
            query: `subscription { r: generation(id: ${lit(pick(p.generationIds))}) { generationId done adapters { adapter { ${selection(1)} } } } }`,
            namesForeignTeam: headerForeign,
          };
      cases.push({ index, principal, transport: "ws", header: h, root: "r", foreignWrite: false, ...sub });
    } else if (r < 0.14) {
      // The HTTP routes: uploads (refused or failing on their samples before any byte), and the OpenAI routes.
      const kind = p.f.storiesSkip ? 0 : int(0, 2);
      if (kind === 0) {
        const [t, foreign] = team(principal, true);
        cases.push({
          index,
          principal,
          transport: "http",
          query: "POST /v1/adapters",
          header: h,
          form: { name: `fuzz-${index}`, samples: "[]", ...(t !== undefined ? { teamId: t } : {}), ...(chance(0.3) ? { visibility: "PUBLIC" } : {}) },
          namesForeignTeam: foreign || headerForeign,
          foreignWrite: false,
        });
      } else if (kind === 1) {
        cases.push({ index, principal, transport: "http", query: "GET /v1/models", header: h, namesForeignTeam: headerForeign, foreignWrite: false });
      } else {
        const model = pick(["auto", "base", ...p.adapterNames, "nothing-here"]);
        cases.push({
          index,
          principal,
          transport: "http",
          query: "POST /v1/completions",
          header: h,
          body: { model, prompt: "A cat", max_tokens: 1 },
          namesForeignTeam: headerForeign,
          foreignWrite: false,
        });
      }
    } else {
      const make = pick([...queries, ...modelQueries, ...modelQueries.slice(0, 1)]);
      const c = make(principal);
      // `teams` and `me` name no team and do not read through the gate: a foreign header does not concern them.
      const gated = c.root !== undefined;
      cases.push({ index, principal, transport: "graphql", header: h, ...c, namesForeignTeam: c.namesForeignTeam || (gated && headerForeign) });
    }
  }
  return cases;
}

interface Outcome {
  text: string;
  /** The root field's data (GraphQL), or the HTTP status. */
  rootData?: unknown;
  status?: number;
  errorCodes: string[];
}

async function run(p: Pools, c: Case): Promise<Outcome> {
  const token = c.principal.token;
  if (c.transport === "graphql") {
    const r = await ask(p.f, token, c.query, c.variables ?? {}, c.header);
    return {
      text: JSON.stringify(r),
      rootData: c.root ? (r.data as Record<string, unknown> | null | undefined)?.[c.root] : undefined,
      errorCodes: (r.errors ?? []).map((e) => String(e.extensions?.code)),
    };
  }
  if (c.transport === "ws") {
    const sub = subscribe(p.f.url, token, c.query, c.variables ?? {}, c.header);
    try {
      // Long enough for the subscription to register and see an event or two (published every 50 ms meanwhile).
      await Promise.race([sub.ended, new Promise((r) => setTimeout(r, 400))]);
      const ended = await Promise.race([sub.ended, Promise.resolve(undefined)]);
      const data = sub.events.map((e) => (e.data as Record<string, unknown> | null | undefined)?.[c.root!]).filter((d) => d != null);
      return {
        text: JSON.stringify({ events: sub.events, ended }),
        rootData: data.length ? data : null,
        errorCodes: (ended?.errors ?? []).map((e) => String(e.extensions?.code)),
      };
    } finally {
      await sub.stop();
    }
  }
  if (c.query === "POST /v1/adapters") {
    const r = await uploadAs(p.f.url, token, c.form!, [], { team: c.header });
    return { text: JSON.stringify(r.body), status: r.status, errorCodes: (r.body.errors ?? []).map((e) => e.extensions.code) };
  }
  const [method, route] = c.query.split(" ") as [string, string];
  const headers: Record<string, string> = {
    ...bearer(token),
    ...(c.header !== undefined ? { "x-quiver-team": c.header } : {}),
    ...(c.body ? { "content-type": "application/json" } : {}),
  };
  const res = await fetch(`${p.f.url}${route}`, { method, headers, ...(c.body ? { body: JSON.stringify(c.body) } : {}) });
  return { text: await res.text(), status: res.status, errorCodes: [] };
}

/** What is wrong with an outcome (empty when nothing is). */
function violations(p: Pools, c: Case, o: Outcome): string[] {
  const problems: string[] = [];
  const request = `${c.query} ${JSON.stringify(c.variables ?? {})} ${JSON.stringify(c.body ?? {})} ${JSON.stringify(c.form ?? {})}`;
  const leaked = foreignMarkers(p.f, c.principal.memberOf, request).filter((m) => o.text.includes(m));
  if (leaked.length) problems.push(`leaked ${leaked.join(", ")}`);
  if (c.namesForeignTeam) {
    if (c.transport === "http" ? o.status !== undefined && o.status < 400 : o.rootData !== undefined && o.rootData !== null)
      problems.push("answered data for a team the caller is not in");
  }
  if (c.foreignWrite && o.rootData !== undefined && o.rootData !== null) problems.push("a write to another team's adapter succeeded");
  return problems;
}

let pools: Pools;

beforeAll(async () => {
  const f = await startGateFixture();
  const url = f.url;
  const { a, b, c } = f.teams;
  const principals: Principal[] = [{ label: "anonymous", memberOf: [], roles: {} }];
  const user = async (label: string, memberships: [TeamKey, Role][]) => {
    let token: string | undefined;
    let userId = "";
    for (const [t, role] of memberships)
      ({ token, userId } = await inviteUser(url, f.teams[t].ownerToken, f.teams[t].id, `${label}@example.test`, role, token));
    const pr: Principal = { label, token, memberOf: memberships.map(([t]) => t), roles: Object.fromEntries(memberships) };
    principals.push(pr);
    return { ...pr, userId, token: token! };
  };
  principals.push({ label: "a-owner", token: a.ownerToken, memberOf: ["a"], roles: { a: "OWNER" } });
  principals.push({ label: "b-owner", token: b.ownerToken, memberOf: ["b"], roles: { b: "OWNER" } });
  principals.push({ label: "c-owner", token: c.ownerToken, memberOf: ["c"], roles: { c: "OWNER" } });
  await user("a-admin", [["a", "ADMIN"]]);
  await user("a-member", [["a", "MEMBER"]]);
  await user("a-viewer", [["a", "VIEWER"]]);
  await user("b-viewer", [["b", "VIEWER"]]);
  await user("a-viewer-c-member", [
    ["a", "VIEWER"],
    ["c", "MEMBER"],
  ]);
  await user("b-admin-c-viewer", [
    ["b", "ADMIN"],
    ["c", "VIEWER"],
  ]);
  for (const role of ["OWNER", "ADMIN", "MEMBER", "VIEWER"] as Role[]) {
    principals.push({ label: `a-key-${role}`, token: (await createKey(url, a.ownerToken, a.id, role)).secret, memberOf: ["a"], roles: { a: role } });
  }
  principals.push({ label: "b-key-MEMBER", token: (await createKey(url, b.ownerToken, b.id, "MEMBER")).secret, memberOf: ["b"], roles: { b: "MEMBER" } });
  principals.push({ label: "c-key-VIEWER", token: (await createKey(url, c.ownerToken, c.id, "VIEWER")).secret, memberOf: ["c"], roles: { c: "VIEWER" } });
  // A user removed from its only team (it sees no team's markers), and its revoked key.
  const leaver = await user("leaver", [["a", "ADMIN"]]);
  const leaverKey = await createKey(url, leaver.token, a.id, "ADMIN", "leaver-key");
  const removed = await ask(f, a.ownerToken, `mutation($t: ID!, $u: ID!) { removeMember(teamId: $t, userId: $u) }`, { t: a.id, u: leaver.userId });
  if (removed.errors) throw new Error(JSON.stringify(removed.errors));
  Object.assign(
    principals.find((x) => x.label === "leaver")!,
    { memberOf: [], roles: {} },
  );
  principals.push({ label: "revoked-key", token: leaverKey.secret, memberOf: [], roles: {} });

  const adaptersOf = Object.fromEntries(
    TEAM_KEYS.map((t) => [t, [...f.teams[t].privateIds, f.teams[t].publicAdded.id, f.teams[t].publicNotAdded.id]]),
  ) as Record<TeamKey, string[]>;
  adaptersOf.c.push(f.toggle.id);
  pools = {
    f,
    principals,
    adaptersOf,
    adapterIds: TEAM_KEYS.flatMap((t) => adaptersOf[t]),
    generationIds: TEAM_KEYS.flatMap((t) => f.teams[t].generationIds).concat(NOWHERE),
    adapterNames: TEAM_KEYS.flatMap((t) => [...f.teams[t].privateNames, f.teams[t].publicAdded.name, f.teams[t].publicNotAdded.name]),
  };
}, 240_000);

afterAll(() => pools?.f.close());

test(`no caller ever sees another team's data (seed ${SEED})`, async () => {
  const started = Date.now();
  const cases = generate(pools, SEED, CASES);
  const { f } = pools;
  // Pool events for every team's adapters (private and public) while subscriptions are open.
  const all = TEAM_KEYS.flatMap((t) => [
    ...f.teams[t].privateIds.map((id) => ({ id, t, v: "PRIVATE" as const })),
    { id: f.teams[t].publicAdded.id, t, v: "PUBLIC" as const },
  ]);
  let tick = 0;
  const publisher = setInterval(() => {
    const e = all[tick++ % all.length]!;
    f.quiver.services.poolEvents.publish({ kind: "UPDATED", adapterId: e.id, teamId: f.teams[e.t].id, visibility: e.v });
  }, 50);
  const failures: string[] = [];
  const tally = { cases: 0, withData: 0, ownMarkersSeen: 0 };
  const check = (c: Case, o: Outcome) => {
    tally.cases++;
    if (o.rootData != null || (o.status !== undefined && o.status < 400)) tally.withData++;
    if (c.principal.memberOf.some((t) => f.teams[t].markers.some((m) => o.text.includes(m)))) tally.ownMarkersSeen++;
    const problems = violations(pools, c, o);
    if (problems.length && failures.length < 10) {
      failures.push(
        `case ${c.index} (${c.principal.label}, ${c.transport}, team header ${JSON.stringify(c.header ?? null)}): ${problems.join("; ")}\n  ${c.query}\n  ${JSON.stringify(c.form ?? c.body ?? "")}\n  -> ${o.text.slice(0, 600)}`,
      );
    }
  };
  // Requests CONCURRENCY at a time; subscriptions (which stay open a moment each) many at a time.
  const batches = (xs: Case[], n: number) => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));
  try {
    for (const [group, n] of [
      [cases.filter((c) => c.transport !== "ws"), CONCURRENCY],
      [cases.filter((c) => c.transport === "ws"), 40],
    ] as const) {
      for (const batch of batches(group, n)) {
        const outcomes = await Promise.all(batch.map((c) => run(pools, c)));
        batch.forEach((c, j) => check(c, outcomes[j]!));
      }
    }
  } finally {
    clearInterval(publisher);
  }
  await f.quiver.services.generation?.idle();
  console.log(
    `gate fuzz: seed ${SEED}: ${tally.cases} cases in ${((Date.now() - started) / 1000).toFixed(1)} s, ${tally.withData} answered data, ${tally.ownMarkersSeen} showed the caller's own teams' markers`,
  );
  expect({ seed: SEED, replay: `QUIVER_FUZZ_SEED=${SEED} node scripts/test.mjs test/api/gate-fuzz.test.ts`, failures }).toEqual({
    seed: SEED,
    replay: expect.any(String),
    failures: [],
  });
  // The probe reaches the private data it looks for: callers see their own teams' markers often.
  expect(tally.withData).toBeGreaterThan(CASES * 0.25);
  expect(tally.ownMarkersSeen).toBeGreaterThan(CASES * 0.1);
}, 300_000);
