/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// The authorization matrix: every GraphQL operation and HTTP route, for every role (as a
// signed-in user and as an API key) and for anonymous callers, against the caller's own team
// and another team. Denials must be coded errors (or null for single-object lookups) that
// carry none of the other team's data. Extend OPERATIONS with every new operation.
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { minimumRole, type Action } from "../../apps/api/src/auth/policy.js";
import { gql, login, type GraphQLResult } from "../helpers/server.js";
import { SAMPLES, adapterFiles, startPoolServer, upload, writeAdapter } from "../helpers/pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "../helpers/stories.js";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

type Role = "OWNER" | "ADMIN" | "MEMBER" | "VIEWER";
const ROLES: Role[] = ["OWNER", "ADMIN", "MEMBER", "VIEWER"];
const rank = (r: Role) => ROLES.length - ROLES.indexOf(r);

interface Caller {
  label: string;
  kind: "user" | "apiKey" | "anonymous";
  role?: Role;
  token?: string;
}

interface Fixture {
  url: string;
  quiver: Quiver;
  adapterDir: string;
  /** A finished generation of each team. */
  generations: Record<Target, string>;
  /** A fresh adapter (database rows only) in the team, for operations that change or delete it. */
  freshAdapter(target: Target): Promise<string>;
  ownerToken: string;
  teams: Record<"own" | "other", { id: string; ownerToken: string; privateAdapterId: string; secretMarker: string }>;
}

type Target = "own" | "other";

interface Operation {
  name: string;
  /** The policy action it needs; "user" = any signed-in user; "public" = anyone. */
  needs: Action | "user" | "public" | "principal";
  /** Team management is for people only: API keys are denied whatever their role. */
  usersOnly?: boolean;
  /** null is a normal answer here (not a denial). */
  nullable?: boolean;
  run(f: Fixture, caller: Caller, target: Target): Promise<GraphQLResult | { status: number }>;
}

const h = (c: Caller): Record<string, string> => (c.token ? { authorization: `Bearer ${c.token}` } : {});

async function throwawayMember(f: Fixture, target: Target): Promise<string> {
  const t = f.teams[target];
  const email = `tmp-${Math.random().toString(36).slice(2)}@example.test`;
  const inv = await gql<{ inviteMember: { token: string } }>(f.url, `mutation($t: ID!, $e: String!) { inviteMember(teamId: $t, email: $e, role: VIEWER) { token } }`, { t: t.id, e: email }, { authorization: `Bearer ${t.ownerToken}` });
  const acc = await gql<{ acceptInvitation: { user: { id: string } } }>(f.url, `mutation($k: String!) { acceptInvitation(token: $k, password: "a-long-password-1") { user { id } } }`, { k: inv.data!.inviteMember.token });
  return acc.data!.acceptInvitation.user.id;
}

/** Runs a subscription until its first event or error. */
async function firstEvent(f: Fixture, c: Caller, query: string, variables: Record<string, unknown>, trigger?: () => void): Promise<GraphQLResult> {
  const client = createClient({ url: f.url.replace("http", "ws") + "/graphql", webSocketImpl: WebSocket, connectionParams: c.token ? { authorization: `Bearer ${c.token}` } : {}, retryAttempts: 0, lazy: true });
  try {
    return await new Promise<GraphQLResult>((resolve) => {
      const timer = setTimeout(() => resolve({ status: 200, errors: [{ message: "no event", extensions: { code: "NOT_FOUND" } }] }), 3000);
      const stop = client.subscribe({ query, variables }, {
        next: (v) => {
          clearTimeout(timer);
          resolve({ status: 200, ...(v as object) } as GraphQLResult);
          stop();
        },
        error: (e) => {
          clearTimeout(timer);
          const errors = Array.isArray(e) ? e : [{ message: String((e as { reason?: string }).reason ?? e), extensions: { code: "UNAUTHENTICATED" } }];
          resolve({ status: 200, errors } as GraphQLResult);
        },
        complete: () => undefined,
      });
      if (trigger) setTimeout(trigger, 400);
    });
  } finally {
    await client.dispose();
  }
}

const STORIES_SKIP = storiesSkipReason();
if (STORIES_SKIP) console.log(`The authorization matrix leaves out generation operations: ${STORIES_SKIP}`);

/** Generation operations and routes (they need a model that serves text). */
const GENERATION_OPERATIONS: Operation[] = [
  { name: "query retrieve", needs: "adapter.read", run: (f, c, t) => gql(f.url, `query($t: ID) { retrieve(input: "a story", k: 2, teamId: $t) { score } }`, { t: f.teams[t].id }, h(c)) },
  { name: "mutation generate", needs: "generate", run: (f, c, t) => gql(f.url, `mutation($i: GenerateInput!) { generate(input: $i) { id } }`, { i: { prompt: "", strategy: "NONE", maxTokens: 2, teamId: f.teams[t].id } }, h(c)) },
  { name: "subscription generate", needs: "generate", run: (f, c, t) => firstEvent(f, c, `subscription($i: GenerateInput!) { generate(input: $i) { generationId } }`, { i: { prompt: "", strategy: "NONE", maxTokens: 2, teamId: f.teams[t].id } }) },
  { name: "subscription generation(id)", needs: "usage.read", run: (f, c, t) => firstEvent(f, c, `subscription($id: ID!) { generation(id: $id) { generationId done } }`, { id: f.generations[t] }) },
  { name: "query generationRecord", needs: "usage.read", run: (f, c, t) => gql(f.url, `query($id: ID!) { generationRecord(id: $id) { id status } }`, { id: f.generations[t] }, h(c)) },
  { name: "mutation cancelGeneration", needs: "generate", run: (f, c, t) => gql(f.url, `mutation($id: ID!) { cancelGeneration(id: $id) { id } }`, { id: f.generations[t] }, h(c)) },
  ...(["/v1/completions", "/v1/chat/completions"] as const).map((route): Operation => ({
    name: `POST ${route}`,
    needs: "generate",
    run: async (f, c, t) => {
      const body = route === "/v1/completions" ? { model: "base", prompt: "", max_tokens: 2 } : { model: "base", messages: [{ role: "user", content: "hi" }], max_tokens: 2 };
      const res = await fetch(`${f.url}${route}`, { method: "POST", headers: { "content-type": "application/json", "x-quiver-team": f.teams[t].id, ...h(c) }, body: JSON.stringify(body) });
      return { status: res.status };
    },
  })),
  {
    name: "GET /v1/models", needs: "generate",
    run: async (f, c, t) => ({ status: (await fetch(`${f.url}/v1/models`, { headers: { "x-quiver-team": f.teams[t].id, ...h(c) } })).status }),
  },
];

/** Runs a subscription until its first event or error (the test publishes one event). */
async function firstPoolEvent(f: Fixture, c: Caller, target: Target): Promise<GraphQLResult> {
  const client = createClient({ url: f.url.replace("http", "ws") + "/graphql", webSocketImpl: WebSocket, connectionParams: c.token ? { authorization: `Bearer ${c.token}` } : {}, retryAttempts: 0, lazy: true });
  try {
    return await new Promise<GraphQLResult>((resolve) => {
      // Something for the subscription to see: a change to the target team's private adapter,
      // published every 200 ms until an event arrives, so a subscription that registers late
      // on a busy machine still sees one (a denied caller sees none either way).
      const publish = setInterval(() => f.quiver.services.poolEvents.publish({ kind: "UPDATED", adapterId: f.teams[target].privateAdapterId, teamId: f.teams[target].id, visibility: "PRIVATE" }), 200);
      const finish = (r: GraphQLResult) => {
        clearInterval(publish);
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => finish({ status: 200, errors: [{ message: "no event", extensions: { code: "NOT_FOUND" } }] }), 1500);
      client.subscribe(
        { query: `subscription($t: ID) { poolEvents(teamId: $t) { kind adapterId adapter { name } } }`, variables: { t: f.teams[target].id } },
        {
          next: (v) => finish({ status: 200, ...(v as object) } as GraphQLResult),
          error: (e) => {
            const errors = Array.isArray(e) ? e : [{ message: String((e as { reason?: string }).reason ?? e), extensions: { code: "UNAUTHENTICATED" } }];
            finish({ status: 200, errors } as GraphQLResult);
          },
          complete: () => undefined,
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

const OPERATIONS: Operation[] = [
  { name: "GET /healthz", needs: "public", run: async (f) => ({ status: (await fetch(`${f.url}/healthz`)).status }) },
  { name: "query version", needs: "public", run: (f, c) => gql(f.url, `{ version }`, {}, h(c)) },
  { name: "GET /metrics", needs: "public", run: async (f) => ({ status: (await fetch(`${f.url}/metrics`)).status }) },
  { name: "query invitationPreview", needs: "public", nullable: true, run: (f, c) => gql(f.url, `{ invitationPreview(token: "qi_${"A".repeat(43)}") { email } }`, {}, h(c)) },
  { name: "query me", needs: "public", nullable: true, run: (f, c) => gql(f.url, `{ me { id email } }`, {}, h(c)) },
  { name: "query teams", needs: "principal", run: (f, c) => gql(f.url, `{ teams { id name } }`, {}, h(c)) },
  { name: "query team", needs: "team.read", run: (f, c, t) => gql(f.url, `query($t: ID!) { team(id: $t) { id name } }`, { t: f.teams[t].id }, h(c)) },
  { name: "Team.members", needs: "member.read", run: (f, c, t) => gql(f.url, `query($t: ID!) { team(id: $t) { members { role user { email } } } }`, { t: f.teams[t].id }, h(c)) },
  { name: "Team.quotas", needs: "team.read", run: (f, c, t) => gql(f.url, `query($t: ID!) { team(id: $t) { quotas { tokensPerDay } } }`, { t: f.teams[t].id }, h(c)) },
  { name: "Team.invitations", needs: "member.manage", run: (f, c, t) => gql(f.url, `query($t: ID!) { team(id: $t) { invitations { email } } }`, { t: f.teams[t].id }, h(c)) },
  { name: "Team.apiKeys", needs: "apikey.manage", run: (f, c, t) => gql(f.url, `query($t: ID!) { team(id: $t) { apiKeys { prefix } } }`, { t: f.teams[t].id }, h(c)) },
  { name: "Team.auditLog", needs: "audit.read", run: (f, c, t) => gql(f.url, `query($t: ID!) { team(id: $t) { auditLog { action } } }`, { t: f.teams[t].id }, h(c)) },
  { name: "query adapters", needs: "adapter.read", run: (f, c, t) => gql(f.url, `query($t: ID) { adapters(teamId: $t) { totalCount edges { node { name } } } }`, { t: f.teams[t].id }, h(c)) },
  { name: "query adapter (private)", needs: "adapter.read", run: (f, c, t) => gql(f.url, `query($id: ID!) { adapter(id: $id) { id name } }`, { id: f.teams[t].privateAdapterId }, h(c)) },
  { name: "query usage", needs: "usage.read", run: (f, c, t) => gql(f.url, `query($t: ID) { usage(teamId: $t) { totals { requests } topAdapters { name } } }`, { t: f.teams[t].id }, h(c)) },
  { name: "Adapter.samples and versions (private)", needs: "adapter.read", run: (f, c, t) => gql(f.url, `query($id: ID!) { adapter(id: $id) { samples versions { version } neighbours { score } } }`, { id: f.teams[t].privateAdapterId }, h(c)) },
  { name: "query poolMap", needs: "adapter.read", run: (f, c, t) => gql(f.url, `query($t: ID) { poolMap(teamId: $t) { adapters { name } similarity } }`, { t: f.teams[t].id }, h(c)) },
  { name: "subscription poolEvents", needs: "adapter.read", run: (f, c, t) => firstPoolEvent(f, c, t) },
  {
    name: "POST /v1/adapters", needs: "adapter.write",
    run: async (f, c, t) => {
      const r = await upload(f.url, c.token ?? "", { name: `up-${Math.random().toString(36).slice(2, 10)}`, samples: SAMPLES, teamId: f.teams[t].id }, adapterFiles(f.adapterDir));
      return { status: r.status === 201 ? 200 : r.status };
    },
  },
  {
    name: "POST /v1/adapters/:id/versions", needs: "adapter.write",
    run: async (f, c, t) => {
      const r = await upload(f.url, c.token ?? "", {}, adapterFiles(f.adapterDir), `/v1/adapters/${await f.freshAdapter(t)}/versions`);
      return { status: r.status === 201 ? 200 : r.status };
    },
  },
  { name: "mutation updateAdapter", needs: "adapter.write", run: async (f, c, t) => gql(f.url, `mutation($id: ID!) { updateAdapter(id: $id, changes: { description: "x" }) { id } }`, { id: await f.freshAdapter(t) }, h(c)) },
  { name: "mutation setAdapterSamples", needs: "adapter.write", run: async (f, c, t) => gql(f.url, `mutation($id: ID!, $s: [String!]!) { setAdapterSamples(id: $id, samples: $s) { id } }`, { id: await f.freshAdapter(t), s: SAMPLES }, h(c)) },
  { name: "mutation disableAdapter", needs: "adapter.write", run: async (f, c, t) => gql(f.url, `mutation($id: ID!) { disableAdapter(id: $id) { id } }`, { id: await f.freshAdapter(t) }, h(c)) },
  { name: "mutation enableAdapter", needs: "adapter.write", run: async (f, c, t) => gql(f.url, `mutation($id: ID!) { enableAdapter(id: $id) { id } }`, { id: await f.freshAdapter(t) }, h(c)) },
  { name: "mutation deleteAdapter", needs: "adapter.delete", run: async (f, c, t) => gql(f.url, `mutation($id: ID!) { deleteAdapter(id: $id) }`, { id: await f.freshAdapter(t) }, h(c)) },
  { name: "mutation createTeam", needs: "user", usersOnly: true, run: (f, c) => gql(f.url, `mutation($s: String!) { createTeam(name: "T", slug: $s) { id } }`, { s: `t-${Math.random().toString(36).slice(2, 10)}` }, h(c)) },
  { name: "mutation updateTeam (name)", needs: "team.manage", usersOnly: true, run: (f, c, t) => gql(f.url, `mutation($t: ID!) { updateTeam(id: $t, name: "Renamed") { name } }`, { t: f.teams[t].id }, h(c)) },
  { name: "mutation inviteMember", needs: "member.manage", usersOnly: true, run: (f, c, t) => gql(f.url, `mutation($t: ID!) { inviteMember(teamId: $t, email: "invitee@example.test", role: VIEWER) { invitation { id } } }`, { t: f.teams[t].id }, h(c)) },
  {
    name: "mutation revokeInvitation", needs: "member.manage", usersOnly: true,
    run: async (f, c, t) => {
      const inv = await gql<{ inviteMember: { invitation: { id: string } } }>(f.url, `mutation($t: ID!) { inviteMember(teamId: $t, email: "revokee@example.test", role: VIEWER) { invitation { id } } }`, { t: f.teams[t].id }, { authorization: `Bearer ${f.teams[t].ownerToken}` });
      return gql(f.url, `mutation($id: ID!) { revokeInvitation(id: $id) { id } }`, { id: inv.data!.inviteMember.invitation.id }, h(c));
    },
  },
  {
    name: "mutation changeMemberRole", needs: "member.manage", usersOnly: true,
    run: async (f, c, t) => gql(f.url, `mutation($t: ID!, $u: ID!) { changeMemberRole(teamId: $t, userId: $u, role: MEMBER) { role } }`, { t: f.teams[t].id, u: await throwawayMember(f, t) }, h(c)),
  },
  {
    name: "mutation removeMember (someone else)", needs: "member.manage", usersOnly: true,
    run: async (f, c, t) => gql(f.url, `mutation($t: ID!, $u: ID!) { removeMember(teamId: $t, userId: $u) }`, { t: f.teams[t].id, u: await throwawayMember(f, t) }, h(c)),
  },
  { name: "mutation createApiKey (VIEWER)", needs: "apikey.manage", usersOnly: true, run: (f, c, t) => gql(f.url, `mutation($t: ID!) { createApiKey(teamId: $t, name: "m", role: VIEWER) { secret } }`, { t: f.teams[t].id }, h(c)) },
  {
    name: "mutation revokeApiKey", needs: "apikey.manage", usersOnly: true,
    run: async (f, c, t) => {
      const k = await gql<{ createApiKey: { apiKey: { id: string } } }>(f.url, `mutation($t: ID!) { createApiKey(teamId: $t, name: "victim", role: VIEWER) { apiKey { id } } }`, { t: f.teams[t].id }, { authorization: `Bearer ${f.teams[t].ownerToken}` });
      return gql(f.url, `mutation($id: ID!) { revokeApiKey(id: $id) { id } }`, { id: k.data!.createApiKey.apiKey.id }, h(c));
    },
  },
];

function expectedAllowed(op: Operation, caller: Caller, target: Target): boolean {
  if (op.needs === "public") return true;
  if (caller.kind === "anonymous") return false;
  if (op.usersOnly && caller.kind === "apiKey") return false;
  if (op.needs === "user" || op.needs === "principal") return true;
  if (target === "other") return false;
  return rank(caller.role!) >= rank(minimumRole[op.needs] as Role);
}

function allowed(op: Operation, result: GraphQLResult | { status: number }): boolean {
  if (!("errors" in result) && !("data" in result)) return result.status === 200;
  const r = result as GraphQLResult;
  if (r.errors?.length) return false;
  if (op.nullable) return true;
  // Single-object lookups deny with null.
  const values = Object.values(r.data ?? {});
  return values.length > 0 && values.every((v) => v !== null);
}

let fixture: Fixture;
const callers: Caller[] = [{ label: "anonymous", kind: "anonymous" }];

beforeAll(async () => {
  const { quiver } = await startPoolServer(await openCatalog({}), STORIES_SKIP ? {} : { QUIVER_MODEL: convertStories() });
  const url = quiver.api.url;
  const ownerToken = await login(url);
  const prisma = quiver.services.catalog.prisma;
  const ownTeam = (await prisma.team.findFirstOrThrow({ where: { slug: "default" } })).id;
  const auth = { authorization: `Bearer ${ownerToken}` };

  // The other team, owned by someone else.
  const otherOwnerInv = await gql<{ inviteMember: { token: string } }>(url, `mutation($t: ID!) { inviteMember(teamId: $t, email: "other-owner@example.test", role: VIEWER) { token } }`, { t: ownTeam }, auth);
  const otherOwner = await gql<{ acceptInvitation: { token: string } }>(url, `mutation($k: String!) { acceptInvitation(token: $k, password: "a-long-password-1") { token } }`, { k: otherOwnerInv.data!.inviteMember.token });
  const otherOwnerToken = otherOwner.data!.acceptInvitation.token;
  const created = await gql<{ createTeam: { id: string } }>(url, `mutation { createTeam(name: "Other", slug: "other-team") { id } }`, {}, { authorization: `Bearer ${otherOwnerToken}` });
  const otherTeam = created.data!.createTeam.id;
  // The other team's owner also sits in our team as a VIEWER; take that away so the teams are disjoint.
  const otherUser = await prisma.user.findUniqueOrThrow({ where: { email: "other-owner@example.test" } });
  await prisma.membership.delete({ where: { userId_teamId: { userId: otherUser.id, teamId: ownTeam } } });

  const model = await prisma.baseModel.create({ data: { name: "m", architecture: "LlamaForCausalLM", config: {}, hiddenSize: 8, numLayers: 1, vocabSize: 8, contextLength: 8, dtype: "f32", storageUri: "file:///m", contentHash: "0" } });
  const ownAdapter = await prisma.adapter.create({ data: { teamId: ownTeam, name: "own-secret-adapter", baseModelId: model.id } });
  const otherAdapter = await prisma.adapter.create({ data: { teamId: otherTeam, name: "other-secret-adapter", baseModelId: model.id } });

  let fresh = 0;
  fixture = {
    url,
    quiver,
    adapterDir: STORIES_SKIP ? writeAdapter({ seed: 5 }) : storiesAdapter(5),
    generations: { own: "", other: "" },
    freshAdapter: async (target) => {
      const a = await prisma.adapter.create({ data: { teamId: target === "own" ? ownTeam : otherTeam, name: `fresh-${++fresh}`, baseModelId: model.id, status: "ACTIVE" } });
      return a.id;
    },
    ownerToken,
    teams: {
      own: { id: ownTeam, ownerToken, privateAdapterId: ownAdapter.id, secretMarker: "own-secret-adapter" },
      other: { id: otherTeam, ownerToken: otherOwnerToken, privateAdapterId: otherAdapter.id, secretMarker: "other-secret-adapter" },
    },
  };

  if (!STORIES_SKIP) {
    for (const target of ["own", "other"] as Target[]) {
      const g = await gql<{ generate: { id: string } }>(url, `mutation($i: GenerateInput!) { generate(input: $i) { id } }`, { i: { prompt: "", strategy: "NONE", maxTokens: 2 } }, { authorization: `Bearer ${fixture.teams[target].ownerToken}` });
      fixture.generations[target] = g.data!.generate.id;
    }
    await quiver.services.generation!.idle();
  }

  for (const role of ROLES) {
    const email = `${role.toLowerCase()}-caller@example.test`;
    let token = ownerToken;
    if (role !== "OWNER") {
      const inv = await gql<{ inviteMember: { token: string } }>(url, `mutation($t: ID!, $e: String!, $r: Role!) { inviteMember(teamId: $t, email: $e, role: $r) { token } }`, { t: ownTeam, e: email, r: role }, auth);
      const acc = await gql<{ acceptInvitation: { token: string } }>(url, `mutation($k: String!) { acceptInvitation(token: $k, password: "a-long-password-1") { token } }`, { k: inv.data!.inviteMember.token });
      token = acc.data!.acceptInvitation.token;
    }
    callers.push({ label: `${role} user`, kind: "user", role, token });
    const key = await gql<{ createApiKey: { secret: string } }>(url, `mutation($t: ID!, $n: String!, $r: Role!) { createApiKey(teamId: $t, name: $n, role: $r) { secret } }`, { t: ownTeam, n: role, r: role }, auth);
    callers.push({ label: `${role} API key`, kind: "apiKey", role, token: key.data!.createApiKey.secret });
  }
}, 120_000);

afterAll(() => fixture?.quiver.close());

const cases = [...OPERATIONS, ...(STORIES_SKIP ? [] : GENERATION_OPERATIONS)].flatMap((op) => (["own", "other"] as Target[]).map((target) => ({ op, target })));

describe.each(cases)("$op.name on the $target team", ({ op, target }) => {
  test("allows and denies by role, leaking nothing", async () => {
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const caller of callers) {
      const result = await op.run(fixture, caller, target);
      const ok = allowed(op, result);
      outcomes.push(`${caller.label}: ${ok ? "allow" : "deny"}`);
      expected.push(`${caller.label}: ${expectedAllowed(op, caller, target) ? "allow" : "deny"}`);
      if (!ok && "errors" in result && result.errors?.length) {
        expect(["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"]).toContain(result.errors[0]!.extensions?.code);
      }
      if (target === "other" || !ok) {
        // A denial or a foreign read never shows the other team's private data.
        expect(JSON.stringify(result)).not.toContain(fixture.teams.other.secretMarker);
      }
    }
    expect(outcomes).toEqual(expected);
  }, 60_000);
});
