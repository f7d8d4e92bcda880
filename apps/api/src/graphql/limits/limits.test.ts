// The GraphQL limits against the committed schema (schema.graphql, which test/schema.test.ts
// keeps current): each limit refuses what passes it and lets through what does not, the
// dashboard's own documents pass at the hard maxima, and refusals carry code and numbers.
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  buildSchema,
  getIntrospectionQuery,
  GraphQLError,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  Kind,
  parse,
  typeFromAST,
  type GraphQLInputType,
  type GraphQLSchema,
} from "graphql";
import { formatError } from "../format-error.js";
import { checkOperation, defaultGraphQLLimits, operationCost, type GraphQLLimits } from "./index.js";
import { fieldCosts } from "./cost.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../..");
const schema: GraphQLSchema = buildSchema(readFileSync(path.join(root, "schema.graphql"), "utf8"));
const limits = defaultGraphQLLimits;

function refusal(query: string, variables: Record<string, unknown> = {}, l: GraphQLLimits = limits) {
  const r = checkOperation(schema, l, { query, variables });
  if (!r.errors) return undefined;
  // As the client sees it.
  return r.errors.map((e) => formatError(e.toJSON(), e));
}

function limitOf(query: string, variables: Record<string, unknown> = {}, l: GraphQLLimits = limits) {
  const errors = refusal(query, variables, l);
  return errors?.map((e) => ({ code: e.extensions?.code, ...(e.extensions?.details as object) }));
}

/** `{ me { memberships { team { members { user { memberships ... } } } } } }` with `levels` field levels. */
function deep(levels: number): string {
  const path = ["me"];
  const cycle = ["memberships", "team", "members", "user"];
  while (path.length < levels - 1) path.push(cycle[(path.length - 1) % cycle.length]!);
  // The last object in the path gets a scalar.
  const last = path[path.length - 1]!;
  const leaf = last === "memberships" || last === "members" ? "role" : "id";
  return "{ " + path.map((f) => `${f} {`).join(" ") + ` ${leaf} ` + "}".repeat(path.length) + " }";
}

describe("depth", () => {
  test(`${limits.maxDepth} levels pass, one more is refused with the depth and the limit`, () => {
    const noCost = { ...limits, maxCost: Number.MAX_SAFE_INTEGER };
    expect(refusal(deep(limits.maxDepth), {}, noCost)).toBeUndefined();
    const errors = refusal(deep(limits.maxDepth + 1), {}, noCost)!;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      message: `The operation is ${limits.maxDepth + 1} levels deep; the limit is ${limits.maxDepth} (QUIVER_GRAPHQL_MAX_DEPTH).`,
      extensions: { code: "QUERY_TOO_COMPLEX", details: { limit: "depth", max: limits.maxDepth, actual: limits.maxDepth + 1 } },
    });
  });

  test("fragments count at the depth they are spread", () => {
    const q = `{ me { ...M } } fragment M on User { memberships { team { members { user { memberships { team { members { user { memberships { team { members { user { id } } } } } } } } } } } } }`;
    expect(limitOf(q)).toEqual([expect.objectContaining({ code: "QUERY_TOO_COMPLEX", limit: "depth" })]);
  });
});

describe("aliases", () => {
  const aliased = (n: number) => "{ " + Array.from({ length: n }, (_, i) => `v${i}: version`).join(" ") + " }";

  test(`${limits.maxAliases} pass, ${limits.maxAliases + 1} are refused`, () => {
    expect(refusal(aliased(limits.maxAliases))).toBeUndefined();
    expect(limitOf(aliased(limits.maxAliases + 1))).toEqual([
      { code: "QUERY_TOO_COMPLEX", limit: "aliases", max: limits.maxAliases, actual: limits.maxAliases + 1 },
    ]);
  });

  test("aliases in fragments count once per spread", () => {
    const frag = "fragment F on Query { " + Array.from({ length: 10 }, (_, i) => `v${i}: version`).join(" ") + " }";
    expect(refusal(`{ ...F } ${frag}`)).toBeUndefined();
    expect(
      limitOf(
        `{ a: me { id } b: me { id } ...F ...G } ${frag} fragment G on Query { ...F x: version y: version z: version w: version u: version s: version t: version r: version q: version p: version o: version n: version m: version l: version k: version j: version i: version h: version g: version f: version }`,
      ),
    ).toEqual([expect.objectContaining({ limit: "aliases" })]);
  });
});

test("directives are limited per operation", () => {
  const q = (n: number) => "query($t: Boolean!) { " + Array.from({ length: n }, (_, i) => `v${i}: version @include(if: $t)`).join(" ") + " }";
  const l = { ...limits, maxAliases: 100 };
  expect(refusal(q(limits.maxDirectives), { t: true }, l)).toBeUndefined();
  expect(limitOf(q(limits.maxDirectives + 1), { t: true }, l)).toEqual([
    { code: "QUERY_TOO_COMPLEX", limit: "directives", max: limits.maxDirectives, actual: limits.maxDirectives + 1 },
  ]);
});

test("one operation per document by default; more are refused even with an operationName", () => {
  expect(refusal("query A { version }")).toBeUndefined();
  const two = "query A { version } query B { me { id } }";
  expect(limitOf(two)).toEqual([{ code: "QUERY_TOO_COMPLEX", limit: "operations", max: 1, actual: 2 }]);
  expect(checkOperation(schema, limits, { query: two, operationName: "A" }).errors).toHaveLength(1);
  expect(checkOperation(schema, { ...limits, maxOperations: 2 }, { query: two, operationName: "A" }).errors).toBeUndefined();
});

describe("tokens", () => {
  test("a 50,000-alias flood stops at the token limit, quickly", () => {
    const flood = "{ " + Array.from({ length: 50_000 }, (_, i) => `a${i}: version`).join(" ") + " }";
    const t0 = performance.now();
    const errors = refusal(flood)!;
    const ms = performance.now() - t0;
    expect(errors).toEqual([
      {
        message: `The document has more than ${limits.maxTokens} tokens, the limit (QUIVER_GRAPHQL_MAX_TOKENS); parsing stopped there.`,
        extensions: expect.objectContaining({ code: "QUERY_TOO_COMPLEX", details: { limit: "tokens", max: limits.maxTokens } }),
      },
    ]);
    // Parsing and validating all of it takes seconds; the limit stops after 2,000 tokens.
    expect(ms).toBeLessThan(500);
  });

  test("a document 100,000 levels deep is refused without overflowing the parser's stack", () => {
    const nested = "{ me " + "{ memberships { team ".repeat(50_000) + "{ id }" + " } }".repeat(50_000) + " }";
    expect(limitOf(nested)).toEqual([{ code: "QUERY_TOO_COMPLEX", limit: "tokens", max: limits.maxTokens }]);
  });

  test("the worst document under the token limit is answered in bounded time", () => {
    // Same-named fields are what graphql-js's overlap rule compares pairwise; past its own
    // budget it gives up, and the refusal is coded.
    const same = "{ " + "me { id } ".repeat(Math.floor((limits.maxTokens - 2) / 4)) + "}";
    const t0 = performance.now();
    expect(limitOf(same)).toEqual([expect.objectContaining({ code: "QUERY_TOO_COMPLEX", limit: "fieldComparisons" })]);
    expect(performance.now() - t0).toBeLessThan(2000);
    // Fewer repeats validate.
    expect(refusal("{ " + "me { id } ".repeat(100) + "}")).toBeUndefined();
  });

  test("other syntax errors stay GRAPHQL_PARSE_FAILED", () => {
    expect(refusal("{ me { id ")).toEqual([expect.objectContaining({ extensions: { code: "GRAPHQL_PARSE_FAILED" } })]);
  });
});

describe("cost", () => {
  test("the model: objects times page sizes, plus the searches", () => {
    const cost = (q: string, v: Record<string, unknown> = {}) => operationCost(schema, parse(q), v, undefined, { ...limits, maxCost: Number.MAX_SAFE_INTEGER });
    expect(cost("{ version }")).toBe(0);
    expect(cost("{ me { id } }")).toBe(1);
    expect(cost("{ me { memberships { team { id } } } }")).toBe(1 + 10 * (1 + 1));
    // 2 (base) + first × (connection + edge + node)
    expect(cost("{ adapters(first: 10) { edges { node { id } } } }")).toBe(1 + 10 * (1 + 1 + 1));
    // A vector search per adapter: 20 + k objects each.
    expect(cost("query($k: Int!) { adapter(id: 1) { neighbours(k: $k) { score } } }", { k: 5 })).toBe(1 + 20 + 5);
    expect(cost("{ adapters(first: 100) { edges { node { neighbours(k: 50) { score } } } } }")).toBe(1 + 100 * (1 + 1 + 1 + 20 + 50));
    expect(fieldCosts["Adapter.neighbours"]!.base).toBe(20);
  });

  test("neighbours of neighbours with large k are refused with the estimate and the limit", () => {
    const q = `query($k: Int!) { adapter(id: "a") { neighbours(k: $k) { adapter { neighbours(k: $k) { adapter { neighbours(k: $k) { score } } } } } } }`;
    expect(refusal(q, { k: 2 })).toBeUndefined();
    const errors = refusal(q, { k: 50 })!;
    expect(errors[0]!.extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: { limit: "cost", max: limits.maxCost } });
    const actual = (errors[0]!.extensions!.details as { actual: number }).actual;
    expect(actual).toBeGreaterThan(100_000);
    expect(errors[0]!.message).toBe(`The operation's estimated cost is ${actual}; the limit is ${limits.maxCost} (QUIVER_GRAPHQL_MAX_COST).`);
  });

  test("a list of adapters, each with a large neighbourhood, is refused", () => {
    expect(limitOf("{ adapters(first: 100) { edges { node { neighbours(k: 50) { adapter { id } } } } } }")).toEqual([
      expect.objectContaining({ code: "QUERY_TOO_COMPLEX", limit: "cost" }),
    ]);
  });

  test("the pool map's adapters cannot each ask for neighbours", () => {
    expect(refusal("{ poolMap { adapters { id name team { id name } } similarity points { adapter { id } x y } } }")).toBeUndefined();
    expect(limitOf("{ poolMap { adapters { neighbours(k: 5) { score } } } }")).toEqual([expect.objectContaining({ limit: "cost" })]);
  });

  test("fragments spread into fragments stop at the node limit", () => {
    let doc = "query { ...F0 } fragment F0 on Query { version }";
    for (let i = 1; i <= 8; i++) doc += ` fragment F${i} on Query { ${Array.from({ length: 10 }, () => `...F${i - 1}`).join(" ")} }`;
    doc = doc.replace("query { ...F0 }", "query { ...F8 }");
    const t0 = performance.now();
    expect(limitOf(doc)).toEqual([expect.objectContaining({ code: "QUERY_TOO_COMPLEX", limit: "nodes" })]);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  test("@skip(if: true) selections cost nothing", () => {
    expect(operationCost(schema, parse("{ adapters(first: 100) @skip(if: true) { edges { node { id } } } }"), {}, undefined, limits)).toBe(0);
  });
});

describe("hard maxima of k, first and top", () => {
  test.each([
    [`{ retrieve(input: "x", k: 51) { score } }`, {}, "k", 50, 51],
    [`query($k: Int!) { adapter(id: "a") { neighbours(k: $k) { score } } }`, { k: 1000 }, "k", 50, 1000],
    [`{ adapters(first: 201) { totalCount } }`, {}, "first", 200, 201],
    [`query($n: Int!) { team(id: "t") { auditLog(first: $n) { id } } }`, { n: 10_000 }, "first", 200, 10_000],
    [`{ usage(top: 500) { totals { requests } } }`, {}, "top", 200, 500],
    [`subscription($i: GenerateInput!) { generate(input: $i) { delta } }`, { i: { prompt: "hi", k: 99 } }, "k", 50, 99],
  ])("%s", (query, variables, limit, max, actual) => {
    expect(limitOf(query, variables)).toEqual([
      expect.objectContaining({ code: "BAD_USER_INPUT", limit, max, actual, argument: expect.stringMatching(new RegExp(`(^|\\.)${limit}$`)) }),
    ]);
    expect(refusal(query, variables)![0]!.message).toContain(`${actual}`);
  });

  test("at the maximum they pass", () => {
    expect(refusal(`{ retrieve(input: "x", k: 50) { score } }`)).toBeUndefined();
    expect(refusal(`{ adapters(first: 100) { totalCount edges { node { id name } } } }`)).toBeUndefined();
  });
});

describe("password fields", () => {
  test("one login per document; a second, aliased or in a fragment, is refused", () => {
    expect(refusal(`mutation { login(email: "a@b.c", password: "p") { token } }`)).toBeUndefined();
    const flood = "mutation { " + Array.from({ length: 20 }, (_, i) => `l${i}: login(email: "a${i}@b.c", password: "p") { token }`).join(" ") + " }";
    expect(limitOf(flood)).toEqual([expect.objectContaining({ code: "QUERY_TOO_COMPLEX", limit: "passwordFields", max: 1 })]);
    expect(
      limitOf(
        `mutation { ...A ...B } fragment A on Mutation { a: login(email: "a@b.c", password: "p") { token } } fragment B on Mutation { b: acceptInvitation(token: "t", password: "p") { token } }`,
      ),
    ).toEqual([expect.objectContaining({ limit: "passwordFields" })]);
  });
});

describe("introspection", () => {
  test("on: the standard introspection query passes every limit", () => {
    expect(refusal(getIntrospectionQuery())).toBeUndefined();
  });

  test("off: __schema and __type are refused with FORBIDDEN; __typename still works", () => {
    const off = { ...limits, introspection: false };
    expect(refusal(getIntrospectionQuery(), {}, off)![0]).toMatchObject({
      extensions: { code: "FORBIDDEN" },
      message: expect.stringContaining("QUIVER_GRAPHQL_INTROSPECTION=off"),
    });
    expect(refusal(`{ __type(name: "Adapter") { name } }`, {}, off)![0]!.extensions!.code).toBe("FORBIDDEN");
    expect(refusal(`{ __typename version }`, {}, off)).toBeUndefined();
  });
});

describe("the dashboard's documents pass the default limits at the hard maxima of k, first and top", () => {
  const webRoot = path.join(root, "apps/web");
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === "node_modules" || name.startsWith(".")) continue;
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.tsx?$/.test(name)) files.push(p);
    }
  };
  walk(webRoot);
  const sources = files.map((f) => [f, readFileSync(f, "utf8")] as const);
  // String and number constants the documents interpolate (${STATS}, ${ADAPTER_ROW_FIELDS}, ${TOP}).
  const constants = new Map<string, string>();
  const constant = /const (\w+) = (?:\/\* GraphQL \*\/\s*)?(?:"([^"]*)"|`([^`]*)`|(\d+));/g;
  for (const [, src] of sources) for (const m of src.matchAll(constant)) constants.set(m[1]!, m[2] ?? m[3] ?? m[4]!);
  const interpolate = (file: string, text: string, depth = 0): string =>
    text.replace(/\$\{(\w+)\}/g, (_, name: string) => {
      if (!constants.has(name) || depth > 5) throw new Error(`${file}: unknown interpolation ${name}`);
      return interpolate(file, constants.get(name)!, depth + 1);
    });
  const documents: [string, string][] = [];
  for (const [file, src] of sources) {
    for (const m of src.matchAll(/\/\* GraphQL \*\/\s*`([^`]*)`/g)) {
      const text = interpolate(file, m[1]!);
      if (/^\s*(query|mutation|subscription)\b/.test(text))
        documents.push([`${path.relative(webRoot, file)}: ${/(query|mutation|subscription) (\w+)/.exec(text)?.[2]}`, text]);
    }
  }

  test("the documents were found", () => {
    expect(documents.length).toBeGreaterThanOrEqual(25);
  });

  function sample(type: GraphQLInputType | undefined, name: string): unknown {
    if (type === undefined) return undefined; // a type the committed schema does not have yet
    if (isNonNullType(type)) return sample(type.ofType, name);
    if (isListType(type)) return [sample(type.ofType, name)];
    if (isInputObjectType(type)) return Object.fromEntries(Object.values(type.getFields()).map((f) => [f.name, sample(f.type, f.name)]));
    if (isEnumType(type)) return type.getValues()[0]!.name;
    if (isScalarType(type)) {
      if (type.name === "Int") return name === "k" ? limits.maxK : name === "first" || name === "top" ? limits.maxFirst : 1;
      if (type.name === "Float") return 1;
      if (type.name === "Boolean") return true;
      if (type.name === "DateTime") return new Date().toISOString();
      return "x";
    }
    throw new Error(`no sample for ${String(type)}`);
  }

  test.each(documents)("%s", (_name, text) => {
    const doc = parse(text);
    const op = doc.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION)!;
    const variables = Object.fromEntries(
      (op.kind === Kind.OPERATION_DEFINITION ? (op.variableDefinitions ?? []) : []).map((v) => [
        v.variable.name.value,
        sample(typeFromAST(schema, v.type as never) as GraphQLInputType | undefined, v.variable.name.value),
      ]),
    );
    // Only the limits are this test's business (schema.test.ts and the dashboard's own tests
    // check the documents against the schema): no refusal may come from a limit.
    const r = checkOperation(schema, limits, { query: text, variables });
    const refusals = (r.errors ?? [])
      .map((e) => formatError(e.toJSON(), e))
      .filter((e) => e.extensions?.code === "QUERY_TOO_COMPLEX" || e.extensions?.code === "FORBIDDEN");
    expect(refusals).toEqual([]);
    // With room to spare: half the cost limit at the most.
    expect(operationCost(schema, doc, variables, undefined, { ...limits, maxCost: Number.MAX_SAFE_INTEGER }) ?? 0).toBeLessThan(limits.maxCost / 2);
  });
});

test("refusals reach formatError as coded errors with their details, not INTERNAL", () => {
  const r = checkOperation(schema, limits, { query: deep(20) });
  const e = r.errors![0]!;
  expect(e).toBeInstanceOf(GraphQLError);
  expect(formatError(e.toJSON(), e).extensions).toMatchObject({ code: "QUERY_TOO_COMPLEX", details: { limit: "depth" } });
});
