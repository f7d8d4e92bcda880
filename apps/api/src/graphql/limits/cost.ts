// The cost of an operation, estimated before it runs (graphql-query-complexity walks the
// document with the request's variables, fragments and @skip/@include; this file prices
// each field), and the hard maxima of `k`, `first` and `top` (refused as BAD_USER_INPUT with
// details.argument, like the resolvers' own range checks, but before anything runs).
//
// The model: every object the response would hold costs 1, so a field of object type costs
// n × (1 + its selection's cost), n being how many objects it returns: the page size (`first`,
// `k`, `top`) where an argument sets it, the known bound of a few lists (the pool map's 500
// adapters), 10 for other lists, 1 for single objects. Scalars are free (the token, depth and
// alias limits bound them). Work beyond serialisation adds a base: a vector search
// (Adapter.neighbours) 20, embedding an input and searching (retrieve, generate) 20, the pool
// map's clustering 50. Nested lists multiply: 100 adapters × neighbours(k: 50) is 100 searches
// and about 6,300.
import { getNamedType, getNullableType, getOperationAST, GraphQLError, isCompositeType, isListType, type DocumentNode, type GraphQLSchema } from "graphql";
import { getComplexity, type ComplexityEstimator } from "graphql-query-complexity";
import { isQuiverError, QuiverError } from "../../errors.js";
import { tooComplex, type GraphQLLimits } from "./limits.js";

/** Objects assumed in a list no argument bounds. */
export const defaultListSize = 10;

/** Fields selection-set nodes are walked at most (fragments spread into each other multiply). */
export const maxQueryNodes = 10_000;

interface FieldCost {
  /** Work of the field itself. */
  base?: number;
  /** How many objects (or times) its selection is resolved. */
  size?: (args: Record<string, unknown>) => number;
}

const arg = (name: string, fallback: number) => (args: Record<string, unknown>) => (typeof args[name] === "number" ? (args[name] as number) : fallback);

export const fieldCosts: Record<string, FieldCost> = {
  // A connection: the page size multiplies the whole connection (edges carry the count).
  "Query.adapters": { base: 1, size: arg("first", 25) },
  "Query.publicAdapters": { base: 1, size: arg("first", 25) },
  "AdapterConnection.edges": { size: () => 1 },
  "Team.auditLog": { base: 1, size: arg("first", 50) },
  // The report's top-N lists are priced at 10 entries; `top` scales the report.
  "Query.usage": { base: 5, size: (a) => arg("top", 10)(a) / 10 },
  "UsageReport.series": { size: () => 31 },
  "Query.retrieve": { base: 20, size: arg("k", 3) },
  "Adapter.neighbours": { base: 20, size: arg("k", 5) },
  "Query.poolMap": { base: 50 },
  "PoolMap.adapters": { size: () => 500 },
  "PoolMap.points": { size: () => 500 },
  "Mutation.generate": { base: 20 },
  "Subscription.generate": { base: 20 },
  "Generation.adapters": { size: () => 3 },
  "GenerationEvent.adapters": { size: () => 3 },
};

/** Arguments (and input fields) with a hard maximum, checked before anything runs. */
function boundedArguments(limits: GraphQLLimits): Record<string, { max: number; env: string }> {
  return {
    k: { max: limits.maxK, env: "QUIVER_GRAPHQL_MAX_K" },
    first: { max: limits.maxFirst, env: "QUIVER_GRAPHQL_MAX_FIRST" },
    top: { max: limits.maxFirst, env: "QUIVER_GRAPHQL_MAX_FIRST" },
  };
}

function checkArguments(field: string, args: Record<string, unknown>, limits: GraphQLLimits, prefix = ""): void {
  const bounded = boundedArguments(limits);
  for (const [name, value] of Object.entries(args)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const bound = bounded[name];
    if (bound && typeof value === "number" && value > bound.max) {
      // BAD_USER_INPUT, as the resolver's own range check answers: an argument out of range.
      throw new QuiverError("BAD_USER_INPUT", `${field}(${path}: ${value}) asks for more than the limit of ${bound.max} (${bound.env}).`, {
        details: { argument: path, limit: name, max: bound.max, actual: value },
      });
    }
    // One level of input objects: GenerateInput.k.
    if (!prefix && value !== null && typeof value === "object" && !Array.isArray(value)) checkArguments(field, value as Record<string, unknown>, limits, path);
  }
}

export function costEstimator(limits: GraphQLLimits): ComplexityEstimator {
  return ({ type, field, args, childComplexity }) => {
    // Introspection is bounded by the schema, and tools send it whole: free.
    if (type.name.startsWith("__") || field.name.startsWith("__")) return 0;
    checkArguments(`${type.name}.${field.name}`, args, limits);
    const priced = fieldCosts[`${type.name}.${field.name}`];
    const isObject = isCompositeType(getNamedType(field.type));
    const isList = isListType(getNullableType(field.type));
    const raw = priced?.size ? priced.size(args) : isList ? defaultListSize : 1;
    // A negative or absurd page size must not lower the cost: the resolver refuses it anyway.
    const n = Number.isFinite(raw) ? Math.max(1, raw) : defaultListSize;
    return (priced?.base ?? 0) + (isObject ? n * (1 + childComplexity) : 0);
  };
}

/**
 * The operation's estimated cost; throws QUERY_TOO_COMPLEX past the limit or for an argument
 * over its maximum. Variables the schema refuses are left to execution, which refuses them
 * before any resolver runs (the cost is then not needed).
 */
export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  variables: Record<string, unknown> | null | undefined,
  operationName: string | null | undefined,
  limits: GraphQLLimits,
): number | undefined {
  const operation = getOperationAST(document, operationName ?? undefined);
  if (!operation) return undefined; // execution answers "unknown operation" without running anything
  let cost: number;
  try {
    cost = getComplexity({
      schema,
      query: document,
      variables: variables ?? {},
      ...(operation.name ? { operationName: operation.name.value } : {}),
      estimators: [costEstimator(limits)],
      maxQueryNodes,
    });
  } catch (err) {
    if (isQuiverError(err)) throw err;
    if (err instanceof GraphQLError && /maximum allowed number of nodes/.test(err.message)) {
      throw tooComplex(`The operation expands to more than ${maxQueryNodes} fields (fragments spread into fragments).`, { limit: "nodes", max: maxQueryNodes });
    }
    return undefined;
  }
  if (cost > limits.maxCost) throw costError(cost, limits.maxCost);
  return cost;
}

export function costError(cost: number, max: number): QuiverError {
  return tooComplex(
    `The operation's estimated cost is ${cost}; the limit is ${max} (QUIVER_GRAPHQL_MAX_COST).`,
    { limit: "cost", max, actual: cost },
    "Ask for smaller pages (first, k, top) or fewer nested lists, such as neighbours inside a list of adapters.",
  );
}
