// Abuse limits end to end, against a real server over HTTP and WebSocket: GraphQL documents
// past the depth, cost, alias, token and operation limits are refused with a coded error
// before anything executes (a spy on the adapter list, which every refused document also asks
// for, proves it) and in bounded time; sign-in is limited per address across emails, per email
// across addresses (clients bound to different loopback addresses) and in password-hashing
// work; introspection off and a /metrics token refuse with codes.
import http from "node:http";
import { jest } from "@jest/globals";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { gql, login, startTestServer } from "../helpers/server.js";

const METRICS_TOKEN = "metrics-token-0123456789abcdef";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: { code?: string; details?: Record<string, unknown>; retryAfterSeconds?: number } }[];
  };
  ms: number;
}

/** POST /graphql from a chosen local address (127.0.0.0/8 is all loopback on Linux). */
function post(url: string, body: unknown, options: { from?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const target = new URL(`${url}/graphql`);
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...options.headers },
        ...(options.from ? { localAddress: options.from } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Answer["body"], ms: performance.now() - t0 });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** One operation over graphql-ws: its data, or the errors it ended with. */
function overWebSocket(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data?: unknown; errors?: Answer["body"]["errors"]; ms: number }> {
  const client = createClient({
    url: url.replace(/^http/, "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true,
  });
  const t0 = performance.now();
  return new Promise<{ data?: unknown; errors?: Answer["body"]["errors"]; ms: number }>((resolve, reject) => {
    let data: unknown;
    client.subscribe(
      { query, variables },
      {
        next: (v) => {
          if (v.errors?.length) resolve({ errors: v.errors as Answer["body"]["errors"], ms: performance.now() - t0 });
          else data = v.data;
        },
        error: (e) =>
          Array.isArray(e) ? resolve({ errors: e as Answer["body"]["errors"], ms: performance.now() - t0 }) : reject(new Error(`socket: ${JSON.stringify(e)}`)),
        complete: () => resolve({ data, ms: performance.now() - t0 }),
      },
    );
  }).finally(() => client.dispose());
}

/** Every refused document also asks for this; if anything executed, adapters.list ran. */
const SENTINEL = "sentinel: adapters(first: 1) { totalCount }";

/** `levels` nested field levels under me (members / memberships alternate). */
function deep(levels: number): string {
  const path = ["me"];
  const cycle = ["memberships", "team", "members", "user"];
  while (path.length < levels - 1) path.push(cycle[(path.length - 1) % cycle.length]!);
  const last = path[path.length - 1]!;
  const leaf = last === "memberships" || last === "members" ? "role" : "id";
  return `{ ${SENTINEL} ` + path.map((f) => `${f} {`).join(" ") + ` ${leaf} ` + "}".repeat(path.length) + " }";
}

let quiver: Quiver;
let url: string;
let token: string;
let listSpy: jest.SpiedFunction<Quiver["services"]["adapters"]["list"]>;
let credentialsSpy: jest.SpiedFunction<Quiver["services"]["identity"]["findCredentials"]>;

beforeAll(async () => {
  const catalog = await openCatalog({});
  quiver = await startTestServer(catalog, {
    QUIVER_METRICS_TOKEN: METRICS_TOKEN,
    QUIVER_GRAPHQL_INTROSPECTION: "off",
    // One hash at a time and two waiting, so that a burst overflows the queue.
    QUIVER_PASSWORD_HASH_CONCURRENCY: "1",
    QUIVER_PASSWORD_HASH_QUEUE: "2",
  });
  url = quiver.api.url;
  token = await login(url);
  listSpy = jest.spyOn(quiver.services.adapters, "list");
  credentialsSpy = jest.spyOn(quiver.services.identity, "findCredentials");
}, 120_000);

afterAll(async () => {
  await quiver?.close();
});

beforeEach(() => {
  listSpy.mockClear();
  credentialsSpy.mockClear();
});

const auth = () => ({ authorization: `Bearer ${token}` });

test("control: a small document runs (the sentinel is called)", async () => {
  const r = await post(url, { query: `{ ${SENTINEL} version }` }, { headers: auth() });
  expect(r.body.errors).toBeUndefined();
  expect(listSpy).toHaveBeenCalledTimes(1);
  // The control for the over-WebSocket refusals too.
  const ws = await overWebSocket(url, token, `{ ${SENTINEL} }`);
  expect(ws.errors).toBeUndefined();
  expect(listSpy).toHaveBeenCalledTimes(2);
});

describe("GraphQL documents past a limit are refused before execution", () => {
  const cases: [string, () => { query: string; variables?: Record<string, unknown>; operationName?: string }, string][] = [
    ["a query 13 levels deep", () => ({ query: deep(13) }), "depth"],
    [
      "neighbours of neighbours with a large k",
      () => ({
        query: `query($k: Int!) { ${SENTINEL} adapter(id: "00000000-0000-0000-0000-000000000000") { neighbours(k: $k) { adapter { neighbours(k: $k) { adapter { neighbours(k: $k) { score } } } } } } }`,
        variables: { k: 50 },
      }),
      "cost",
    ],
    [
      "100 adapters, each with a vector search for 50 neighbours",
      () => ({ query: `{ ${SENTINEL} adapters(first: 100) { edges { node { neighbours(k: 50) { score } } } } }` }),
      "cost",
    ],
    ["31 aliases", () => ({ query: `{ ${SENTINEL} ` + Array.from({ length: 30 }, (_, i) => `v${i}: version`).join(" ") + " }" }), "aliases"],
    ["a 50,000-alias flood", () => ({ query: `{ ${SENTINEL} ` + Array.from({ length: 50_000 }, (_, i) => `a${i}: version`).join(" ") + " }" }), "tokens"],
    [
      "two operations in one document, even with an operationName",
      () => ({ query: `query A { ${SENTINEL} } query B { version }`, operationName: "A" }),
      "operations",
    ],
  ];

  test.each(cases)("over HTTP: %s", async (_name, make, limit) => {
    const r = await post(url, make(), { headers: auth() });
    expect(r.status).toBe(400);
    expect(r.body.data).toBeUndefined();
    expect(r.body.errors![0]!.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: expect.objectContaining({ limit, max: expect.any(Number) }) });
    expect(r.body.errors![0]!.message).toContain(String(r.body.errors![0]!.extensions!.details!.max));
    expect(listSpy).not.toHaveBeenCalled();
    expect(r.ms).toBeLessThan(2000);
  });

  test.each(cases)("over WebSocket: %s", async (_name, make, limit) => {
    const { query, variables } = make();
    const r = await overWebSocket(url, token, query, variables);
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: expect.objectContaining({ limit }) });
    expect(listSpy).not.toHaveBeenCalled();
    expect(r.ms).toBeLessThan(2000);
  });

  test("an argument past its hard maximum is refused before execution, naming it", async () => {
    const r = await post(url, { query: `query($k: Int!) { ${SENTINEL} retrieve(input: "x", k: $k) { score } }`, variables: { k: 5000 } }, { headers: auth() });
    expect(r.body.errors![0]).toMatchObject({ extensions: { code: "BAD_USER_INPUT", details: { argument: "k", limit: "k", max: 50, actual: 5000 } } });
    expect(r.body.errors![0]!.message).toMatch(/5000.*50/);
    expect(listSpy).not.toHaveBeenCalled();
    const ws = await overWebSocket(url, token, `subscription($i: GenerateInput!) { generate(input: $i) { delta } }`, { i: { prompt: "hi", k: 999 } });
    expect(ws.errors![0]!.extensions).toMatchObject({ code: "BAD_USER_INPUT", details: { argument: "input.k", max: 50, actual: 999 } });
  });

  test("a 2 MB body is refused at the door", async () => {
    const r = await post(url, { query: `{ ${" ".repeat(2 * 1024 * 1024)} version }` });
    expect(r.status).toBe(413);
    expect(r.body.errors![0]!.extensions!.code).toBe("PAYLOAD_TOO_LARGE");
    expect(r.ms).toBeLessThan(2000);
  });

  test("batched requests (a JSON array of operations) are refused", async () => {
    const r = await post(url, [{ query: `{ ${SENTINEL} }` }, { query: `{ ${SENTINEL} }` }], { headers: auth() });
    expect(r.status).toBe(400);
    expect(listSpy).not.toHaveBeenCalled();
  });
});

describe("sign-in limits", () => {
  const attempt = (email: string, from: string, password = "wrong-password-123") =>
    post(url, { query: `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`, variables: { e: email, p: password } }, { from });

  test("spraying 30 emails from one address is refused after 20, with Retry-After", async () => {
    const codes: string[] = [];
    let limited: Answer | undefined;
    for (let i = 0; i < 30; i++) {
      const r = await attempt(`sprayed${i}@example.test`, "127.0.0.2");
      codes.push(r.body.errors![0]!.extensions!.code!);
      limited ??= codes.at(-1) === "RATE_LIMITED" ? r : undefined;
    }
    expect(codes.slice(0, 20)).toEqual(Array(20).fill("UNAUTHENTICATED"));
    expect(codes.slice(20)).toEqual(Array(10).fill("RATE_LIMITED"));
    const e = limited!.body.errors![0]!;
    expect(e.message).toMatch(/from this address/);
    expect(e.extensions!.retryAfterSeconds).toBeGreaterThan(800);
    expect(limited!.headers["retry-after"]).toBe(String(e.extensions!.retryAfterSeconds));
    // The refused attempts never reached the catalog or argon2.
    credentialsSpy.mockClear();
    await attempt("one-more@example.test", "127.0.0.2");
    expect(credentialsSpy).not.toHaveBeenCalled();
    // Another address still signs in.
    expect((await attempt("admin@example.test", "127.0.0.3", "correct-horse-battery-staple")).body.data).toMatchObject({
      login: { token: expect.any(String) },
    });
  });

  test("one email from 21 addresses is refused after 20 failures", async () => {
    const codes: string[] = [];
    for (let i = 0; i < 21; i++) codes.push((await attempt("victim@example.test", `127.0.1.${i + 1}`)).body.errors![0]!.extensions!.code!);
    expect(codes.slice(0, 20)).toEqual(Array(20).fill("UNAUTHENTICATED"));
    expect(codes[20]).toBe("RATE_LIMITED");
    const r = await attempt("victim@example.test", "127.0.1.99");
    expect(r.body.errors![0]!.message).toMatch(/for this email/);
  });

  test("an aliased login flood is refused before any password is checked, over HTTP and WebSocket", async () => {
    const flood =
      "mutation { " +
      Array.from({ length: 25 }, (_, i) => `l${i}: login(email: "flood${i}@example.test", password: "wrong-password-123") { token }`).join(" ") +
      " }";
    const r = await post(url, { query: flood }, { from: "127.0.2.1" });
    expect(r.status).toBe(400);
    expect(r.body.errors![0]!.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: { limit: "passwordFields", max: 1 } });
    expect(credentialsSpy).not.toHaveBeenCalled();
    const two = `mutation { a: login(email: "a@example.test", password: "wrong-password-123") { token } b: login(email: "b@example.test", password: "wrong-password-123") { token } }`;
    expect((await overWebSocket(url, token, two)).errors![0]!.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: { limit: "passwordFields" } });
    expect(credentialsSpy).not.toHaveBeenCalled();
  });

  test("a burst of sign-ins past the hashing queue is refused with RATE_LIMITED and Retry-After: 1", async () => {
    // One hash runs and two wait (this server's settings): of 12 at once, most are refused.
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => attempt(`burst${i}@example.test`, `127.0.3.${i + 1}`)));
    const busy = answers.filter((a) => a.body.errors![0]!.extensions!.code === "RATE_LIMITED");
    const checked = answers.filter((a) => a.body.errors![0]!.extensions!.code === "UNAUTHENTICATED");
    expect(checked.length).toBeGreaterThanOrEqual(3);
    expect(busy.length).toBeGreaterThanOrEqual(1);
    expect(busy.length + checked.length).toBe(12);
    expect(busy[0]!.body.errors![0]).toMatchObject({
      message: expect.stringMatching(/busy/),
      extensions: { retryAfterSeconds: 1, details: { limit: "passwordHashQueue" } },
    });
    expect(busy[0]!.headers["retry-after"]).toBe("1");
  });
});

describe("introspection off (QUIVER_GRAPHQL_INTROSPECTION=off)", () => {
  test("__schema is refused with FORBIDDEN over HTTP and WebSocket; __typename works", async () => {
    const r = await gql(url, `{ __schema { types { name } } }`, {}, auth());
    expect(r.status).toBe(403);
    expect(r.errors![0]).toMatchObject({ extensions: { code: "FORBIDDEN" }, message: expect.stringContaining("QUIVER_GRAPHQL_INTROSPECTION=off") });
    expect((await overWebSocket(url, token, `{ __type(name: "Adapter") { name } }`)).errors![0]!.extensions!.code).toBe("FORBIDDEN");
    expect((await gql(url, `{ __typename version }`)).data).toMatchObject({ __typename: "Query" });
  });
});

describe("/metrics with QUIVER_METRICS_TOKEN", () => {
  test("refuses without the token or with a wrong one, answers with it", async () => {
    const none = await fetch(`${url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(((await none.json()) as Answer["body"]).errors![0]!.extensions!.code).toBe("UNAUTHENTICATED");
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } })).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: token ? `Bearer ${token}` : "" } })).status).toBe(401);
    const ok = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^text\/plain/);
  });
});
