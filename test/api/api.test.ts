// The API end to end over real HTTP and WebSocket clients, on both database kinds: health,
// bootstrap, login, me, the adapter list with team isolation, and bad input that must fail
// with a code and leave no trace in the database.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import type { Quiver } from "../../apps/api/src/app.js";
import type { Catalog } from "../../apps/api/src/catalog/database.js";
import { catalogKinds } from "../helpers/catalogs.js";
import { ADMIN_EMAIL, gql, login, startTestServer } from "../helpers/server.js";

interface ErrorBody {
  errors: { message: string; extensions: { code: string } }[];
}

/** Row counts of every table a request could write. */
async function footprint(catalog: Catalog): Promise<Record<string, number>> {
  const p = catalog.prisma;
  const [users, teams, memberships, sessions, apiKeys, audit, adapters, usage, generations] = await Promise.all([
    p.user.count(),
    p.team.count(),
    p.membership.count(),
    p.session.count(),
    p.apiKey.count(),
    p.auditLogEntry.count(),
    p.adapter.count(),
    p.usageEvent.count(),
    p.generation.count(),
  ]);
  return { users, teams, memberships, sessions, apiKeys, audit, adapters, usage, generations };
}

function wsQuery<T>(url: string, query: string, connectionParams: Record<string, unknown>): Promise<T> {
  const client = createClient({ url: url.replace(/^http/, "ws") + "/graphql", webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true });
  return new Promise<T>((resolve, reject) => {
    let result: T | undefined;
    client.subscribe<T>(
      { query },
      {
        next: (v) => {
          if (v.errors?.length) reject(new Error(v.errors[0]!.message));
          else result = v.data as T;
        },
        error: (e) => reject(e instanceof Error ? e : new Error(`socket closed: ${(e as { code?: number }).code ?? JSON.stringify(e)}`)),
        complete: () => resolve(result as T),
      },
    );
  }).finally(() => client.dispose());
}

describe.each(catalogKinds())("API on $kind", ({ open }) => {
  let catalog: Catalog;
  let quiver: Quiver;
  let url: string;
  let token: string;
  let teamId: string;

  beforeAll(async () => {
    catalog = await open();
    quiver = await startTestServer(catalog);
    url = quiver.api.url;
    token = await login(url);
    const me = await gql<{ me: { memberships: { team: { id: string } }[] } }>(
      url,
      `{ me { memberships { team { id } } } }`,
      {},
      { authorization: `Bearer ${token}` },
    );
    teamId = me.data!.me.memberships[0]!.team.id;
  }, 120_000);
  afterAll(async () => {
    await quiver?.close();
  });

  const auth = () => ({ authorization: `Bearer ${token}` });

  test("GET /healthz answers 200 with the database kind", async () => {
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", database: { ok: true } });
  });

  test("the first start created the admin as OWNER of a team, once", async () => {
    expect(quiver.bootstrap?.email).toBe(ADMIN_EMAIL);
    expect(quiver.bootstrap?.generatedPassword).toBeUndefined();
    const r = await gql<{ me: { email: string; isAdmin: boolean; memberships: { role: string; team: { name: string; viewerRole: string } }[] } }>(
      url,
      `{ me { email isAdmin memberships { role team { name viewerRole } } } }`,
      {},
      auth(),
    );
    expect(r.data!.me).toEqual({ email: ADMIN_EMAIL, isAdmin: true, memberships: [{ role: "OWNER", team: { name: "Default", viewerRole: "OWNER" } }] });
    const stored = await catalog.prisma.user.findUniqueOrThrow({ where: { email: ADMIN_EMAIL } });
    expect(stored.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await catalog.prisma.auditLogEntry.count({ where: { action: "server.bootstrap" } })).toBe(1);
  });

  test("login returns a session token stored only as a hash", async () => {
    const fresh = await login(url);
    expect(fresh).toMatch(/^qs_/);
    const sessions = await catalog.prisma.session.findMany({ select: { tokenHash: true } });
    expect(sessions.some((s) => s.tokenHash === fresh)).toBe(false);
    expect(sessions.every((s) => /^[0-9a-f]{64}$/.test(s.tokenHash))).toBe(true);
  });

  test("anonymous me is null; the adapter list needs a principal", async () => {
    expect((await gql(url, `{ me { id } }`)).data).toEqual({ me: null });
    const r = await gql(url, `{ adapters { totalCount } }`);
    expect(r.errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
  });

  test("adapters: the team's own, searchable and paginated; another team's private ones never show", async () => {
    const model = await catalog.prisma.baseModel.create({
      data: {
        name: "m-api",
        architecture: "LlamaForCausalLM",
        config: {},
        hiddenSize: 64,
        numLayers: 2,
        vocabSize: 512,
        contextLength: 512,
        dtype: "f32",
        storageUri: "file:///x",
        contentHash: "0",
      },
    });
    const other = await catalog.prisma.team.create({ data: { name: "Other", slug: "other" } });
    for (let i = 0; i < 7; i++) {
      await catalog.prisma.adapter.create({ data: { teamId, name: `task-${i}`, description: i % 2 ? "summarise news" : "translate", baseModelId: model.id } });
    }
    await catalog.prisma.adapter.create({ data: { teamId: other.id, name: "secret-task", baseModelId: model.id } });
    await catalog.prisma.adapter.create({ data: { teamId: other.id, name: "shared-task", baseModelId: model.id, visibility: "PUBLIC" } });

    const q = `query($first: Int, $after: String, $search: String, $pub: Boolean) {
      adapters(first: $first, after: $after, search: $search, includePublic: $pub) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { name team { name } } } } }`;
    type Page = { adapters: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string }; edges: { node: { name: string } }[] } };
    const p1 = await gql<Page>(url, q, { first: 3 }, auth());
    expect(p1.data!.adapters.totalCount).toBe(7);
    expect(p1.data!.adapters.edges.map((e) => e.node.name)).toEqual(["task-0", "task-1", "task-2"]);
    const names: string[] = [];
    let after: string | undefined;
    for (;;) {
      const p = await gql<Page>(url, q, { first: 3, after }, auth());
      names.push(...p.data!.adapters.edges.map((e) => e.node.name));
      if (!p.data!.adapters.pageInfo.hasNextPage) break;
      after = p.data!.adapters.pageInfo.endCursor;
    }
    expect(names).toEqual(["task-0", "task-1", "task-2", "task-3", "task-4", "task-5", "task-6"]);
    const searched = await gql<Page>(url, q, { first: 10, search: "NEWS" }, auth());
    expect(searched.data!.adapters.edges.map((e) => e.node.name)).toEqual(["task-1", "task-3", "task-5"]);
    // Public adapters are opt-in: another team's PUBLIC adapter is in the catalogue, and in the
    // team's list only once an ADMIN has added it to the pool.
    const listed = async () => (await gql<Page>(url, q, { first: 20, pub: true }, auth())).data!.adapters.edges.map((e) => e.node.name);
    expect(await listed()).not.toContain("shared-task");
    const catalogue = await gql<{ publicAdapters: { edges: { node: { id: string; name: string; inPool: boolean } }[] } }>(
      url,
      `{ publicAdapters(first: 50) { edges { node { id name inPool } } } }`,
      {},
      auth(),
    );
    const shared = catalogue.data!.publicAdapters.edges.map((e) => e.node).find((n) => n.name === "shared-task")!;
    expect(shared.inPool).toBe(false);
    expect(catalogue.data!.publicAdapters.edges.map((e) => e.node.name)).not.toContain("secret-task");
    const added = await gql<{ addPublicAdapter: { inPool: boolean } }>(
      url,
      `mutation($a: ID!) { addPublicAdapter(adapterId: $a) { inPool } }`,
      { a: shared.id },
      auth(),
    );
    expect(added.data!.addPublicAdapter.inPool).toBe(true);
    const visible = await listed();
    expect(visible).toContain("shared-task");
    expect(visible).not.toContain("secret-task");
    const secretRow = await catalog.prisma.adapter.findFirstOrThrow({ where: { name: "secret-task" } });
    const addPrivate = await gql(url, `mutation($a: ID!) { addPublicAdapter(adapterId: $a) { id } }`, { a: secretRow.id }, auth());
    expect(addPrivate.errors![0]!.extensions!.code).toBe("NOT_FOUND");
    expect((await gql(url, `mutation($a: ID!) { removePublicAdapter(adapterId: $a) }`, { a: shared.id }, auth())).data).toEqual({ removePublicAdapter: true });
    expect(await listed()).not.toContain("shared-task");

    const secret = await catalog.prisma.adapter.findFirstOrThrow({ where: { name: "secret-task" } });
    expect((await gql(url, `query($id: ID!) { adapter(id: $id) { name } }`, { id: secret.id }, auth())).data).toEqual({ adapter: null });
    const denied = await gql(url, `query($t: ID) { adapters(teamId: $t) { totalCount } }`, { t: other.id }, auth());
    expect(denied.errors![0]!.extensions!.code).toBe("NOT_FOUND");
    const badCursor = await gql(url, q, { first: 3, after: "not-a-cursor" }, auth());
    expect(badCursor.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
    const sorted = `query($o: AdapterOrder, $after: String) { adapters(first: 4, orderBy: $o, after: $after) { pageInfo { endCursor hasNextPage } edges { node { name } } } }`;
    const desc1 = await gql<Page>(url, sorted, { o: "NAME_DESC" }, auth());
    expect(desc1.data!.adapters.edges.map((e) => e.node.name)).toEqual(["task-6", "task-5", "task-4", "task-3"]);
    const desc2 = await gql<Page>(url, sorted, { o: "NAME_DESC", after: desc1.data!.adapters.pageInfo.endCursor }, auth());
    expect(desc2.data!.adapters.edges.map((e) => e.node.name)).toEqual(["task-2", "task-1", "task-0"]);
    const newest = await gql<Page>(url, sorted, { o: "CREATED_DESC" }, auth());
    expect(newest.data!.adapters.edges[0]!.node.name).toBe("task-6");
    const wrongOrder = await gql(url, sorted, { o: "UPDATED_ASC", after: desc1.data!.adapters.pageInfo.endCursor }, auth());
    expect(wrongOrder.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
    const badFirst = await gql(url, q, { first: 1000 }, auth());
    expect(badFirst.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
  });

  test("GraphQL over WebSocket authenticates with connectionParams and rejects bad tokens", async () => {
    const data = await wsQuery<{ me: { email: string } }>(url, `{ me { email } }`, { authorization: `Bearer ${token}` });
    expect(data.me.email).toBe(ADMIN_EMAIL);
    await expect(wsQuery(url, `{ me { email } }`, { authorization: "Bearer qs_forged" })).rejects.toThrow(/4403|Forbidden|closed/);
  });

  describe("bad input gets a coded error and leaves no trace", () => {
    let before: Record<string, number>;
    beforeEach(async () => {
      before = await footprint(catalog);
    });
    afterEach(async () => {
      expect(await footprint(catalog)).toEqual(before);
    });

    test("a wrong password", async () => {
      const r = await gql(url, `mutation { login(email: "${ADMIN_EMAIL}", password: "not-the-password") { token } }`);
      expect(r.errors![0]).toMatchObject({ message: "Invalid email or password.", extensions: { code: "UNAUTHENTICATED" } });
      expect(r.data).toBeNull();
    });

    test("an unknown email gets the same answer as a wrong password", async () => {
      const r = await gql(url, `mutation { login(email: "nobody@example.test", password: "whatever-long") { token } }`);
      expect(r.errors![0]).toMatchObject({ message: "Invalid email or password.", extensions: { code: "UNAUTHENTICATED" } });
    });

    test("an invalid email", async () => {
      const r = await gql(url, `mutation { login(email: "not an email", password: "x") { token } }`);
      expect(r.errors![0]!.extensions!.code).toBe("BAD_USER_INPUT");
    });

    test.each([
      ["garbage", 'Malformed Authorization header: expected "Bearer <token or API key>".'],
      ["Bearer garbage", "Malformed bearer token."],
      ["Bearer qs_short", "Malformed bearer token."],
      ["Basic dXNlcjpwYXNz", 'Malformed Authorization header: expected "Bearer <token or API key>".'],
      [`Bearer qs_${"A".repeat(43)}`, "The session token is invalid or has expired. Sign in again."],
      [`Bearer qk_0123abcd_${"B".repeat(43)}`, "The API key is invalid, revoked or expired."],
    ])("a malformed or unknown token (%s)", async (header, message) => {
      const r = await gql(url, `{ me { id } }`, {}, { authorization: header });
      expect(r.status).toBe(401);
      expect(r.errors![0]).toMatchObject({ message, extensions: { code: "UNAUTHENTICATED" } });
    });

    test("a GraphQL syntax error", async () => {
      const r = await gql(url, `{ me { id `);
      expect(r.status).toBe(400);
      expect(r.errors![0]!.extensions!.code).toBe("GRAPHQL_PARSE_FAILED");
    });

    test("a query for a field that does not exist", async () => {
      const r = await gql(url, `{ nope }`);
      expect(r.status).toBe(400);
      expect(r.errors![0]!.extensions!.code).toBe("GRAPHQL_VALIDATION_FAILED");
    });

    test("an oversized request body", async () => {
      const limit = quiver.services.config.QUIVER_MAX_BODY_BYTES;
      const res = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: `mutation { login(email: "a@b.c", password: "${"x".repeat(limit)}") { token } }` }),
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({
        errors: [{ message: `Request body too large: the limit is ${limit} bytes.`, extensions: { code: "PAYLOAD_TOO_LARGE" } }],
      });
    });

    test("a body that is not JSON", async () => {
      const res = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: "{ not json" });
      expect(res.status).toBe(400);
      expect(((await res.json()) as ErrorBody).errors[0]!.extensions.code).toBe("BAD_USER_INPUT");
    });

    test("an unknown route", async () => {
      const res = await fetch(`${url}/nope`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as ErrorBody).errors[0]!.extensions.code).toBe("NOT_FOUND");
    });
  });

  test("logout revokes the session", async () => {
    const t = await login(url);
    const out = await gql(url, `mutation { logout }`, {}, { authorization: `Bearer ${t}` });
    expect(out.data).toEqual({ logout: true });
    const after = await gql(url, `{ me { id } }`, {}, { authorization: `Bearer ${t}` });
    expect(after.status).toBe(401);
    expect(after.errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
  });
});
