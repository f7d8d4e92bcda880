// The GraphQL abuse limits: what they are, their defaults, and the one error every refusal
// is (QUERY_TOO_COMPLEX, with details.limit naming the limit, details.max its value and
// details.actual what the request had, when known). docs/api.md, "Limits", lists them.
import { GraphQLError, type ASTNode } from "graphql";
import { httpStatusOf, QuiverError } from "../../errors.js";
import type { Config } from "../../config.js";

export interface GraphQLLimits {
  /** Lexical tokens in one document; the parser stops at the first one past it. */
  maxTokens: number;
  /** Nested selection levels in an operation ({ me { id } } is 2). */
  maxDepth: number;
  /** Aliased fields in an operation, fragments included (__typename is free). */
  maxAliases: number;
  /** Directives in an operation, fragments included. */
  maxDirectives: number;
  /** Operation definitions in one document (only one of them is ever executed). */
  maxOperations: number;
  /** The estimated cost of the operation (see cost.ts). */
  maxCost: number;
  /** The largest `k` argument (retrieve, Adapter.neighbours, GenerateInput.k). */
  maxK: number;
  /** The largest `first` or `top` argument (adapters, Team.auditLog, usage). */
  maxFirst: number;
  /** Whether __schema and __type may be queried. */
  introspection: boolean;
}

export const defaultGraphQLLimits: GraphQLLimits = {
  maxTokens: 2000,
  maxDepth: 12,
  maxAliases: 30,
  maxDirectives: 20,
  maxOperations: 1,
  maxCost: 5000,
  maxK: 50,
  maxFirst: 200,
  introspection: true,
};

export function graphqlLimitsFrom(config: Config): GraphQLLimits {
  return {
    maxTokens: config.QUIVER_GRAPHQL_MAX_TOKENS,
    maxDepth: config.QUIVER_GRAPHQL_MAX_DEPTH,
    maxAliases: config.QUIVER_GRAPHQL_MAX_ALIASES,
    maxDirectives: config.QUIVER_GRAPHQL_MAX_DIRECTIVES,
    maxOperations: config.QUIVER_GRAPHQL_MAX_OPERATIONS,
    maxCost: config.QUIVER_GRAPHQL_MAX_COST,
    maxK: config.QUIVER_GRAPHQL_MAX_K,
    maxFirst: config.QUIVER_GRAPHQL_MAX_FIRST,
    introspection: config.QUIVER_GRAPHQL_INTROSPECTION === "on",
  };
}

export interface LimitDetails {
  /** Which limit: tokens, depth, aliases, directives, operations, cost, nodes, k, first, top, passwordFields. */
  limit: string;
  max: number;
  actual?: number;
  /** The argument, for k / first / top. */
  argument?: string;
}

export function tooComplex(message: string, details: LimitDetails, hint?: string): QuiverError {
  return new QuiverError("QUERY_TOO_COMPLEX", message, { details: { ...details }, ...(hint ? { hint } : {}) });
}

/**
 * A QuiverError as a GraphQL request error: Apollo and graphql-ws send GraphQLErrors, and
 * formatError finds the QuiverError in originalError and shows its code and details.
 */
export function asRequestError(err: QuiverError, nodes?: ASTNode | readonly ASTNode[]): GraphQLError {
  return new GraphQLError(err.message, {
    ...(nodes ? { nodes } : {}),
    originalError: err,
    extensions: { code: err.code, http: { status: httpStatusOf[err.code] } },
  });
}

/** graphql-js's parser error when maxTokens is reached (16.x spells it "more that"). */
const tokenLimitMessage = /Document contains more th(?:an|at) (\d+) tokens/;

/** The token-limit refusal for a parser error that is one, else undefined. */
export function tokenLimitError(parserMessage: string): QuiverError | undefined {
  const m = tokenLimitMessage.exec(parserMessage);
  if (!m) return undefined;
  const max = Number(m[1]);
  return tooComplex(
    `The document has more than ${max} tokens, the limit (QUIVER_GRAPHQL_MAX_TOKENS); parsing stopped there.`,
    { limit: "tokens", max },
    "Send a smaller document: fewer fields and aliases, values as variables.",
  );
}

/** graphql-js's own budget for comparing same-named fields (OverlappingFieldsCanBeMergedRule). */
export const overlapBudget = 500_000;

/**
 * The refusal for one of graphql-js's own bounds, recognised by its message: the token limit
 * while parsing, or the overlap rule's comparison budget ("Validation aborted.").
 */
export function graphqlBoundError(message: string): QuiverError | undefined {
  if (message === "Validation aborted.") {
    return tooComplex(
      "The document repeats the same fields too often to validate (graphql-js stopped comparing them).",
      { limit: "fieldComparisons", max: overlapBudget },
      "Ask for each field once.",
    );
  }
  return tokenLimitError(message);
}
