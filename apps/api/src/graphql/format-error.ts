// One formatError: QuiverErrors and GraphQL's own request errors reach the client with their
// code; anything else is logged and masked, so internals (SQL, stack traces, paths) never leak.
import type { GraphQLFormattedError } from "graphql";
import { GraphQLError } from "graphql";
import { unwrapResolverError } from "@apollo/server/errors";
import { httpStatusOf, isQuiverError, type QuiverError } from "../errors.js";
import { graphqlBoundError } from "./limits/limits.js";
import { databaseUnavailable, isDatabaseUnavailable } from "../catalog/database-health.js";

/** Codes that Apollo and graphql-js attach to errors in the request itself. */
const requestErrorCodes = new Set([
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_USER_INPUT",
  "BAD_REQUEST",
  "PERSISTED_QUERY_NOT_FOUND",
  "PERSISTED_QUERY_NOT_SUPPORTED",
  "OPERATION_RESOLUTION_FAILURE",
  "UNAUTHENTICATED",
]);

export function toGraphQLError(err: QuiverError): GraphQLError {
  return new GraphQLError(err.message, {
    extensions: {
      code: err.code,
      ...(err.hint ? { hint: err.hint } : {}),
      ...(err.details ? { details: err.details } : {}),
      http: { status: httpStatusOf[err.code] },
    },
  });
}

/**
 * The QuiverError behind an error: thrown by a resolver, or carried as originalError by a
 * request error (a limit refusal from validation or from the cost check).
 */
export function quiverErrorOf(error: unknown): QuiverError | undefined {
  const original = unwrapResolverError(error);
  if (isQuiverError(original)) return original;
  if (original instanceof GraphQLError && isQuiverError(original.originalError)) return original.originalError;
  // The database out of reach is the service's condition, not a bug: DATABASE_UNAVAILABLE (503, Retry-After).
  if (isDatabaseUnavailable(original) || (original instanceof GraphQLError && isDatabaseUnavailable(original.originalError))) return databaseUnavailable();
  return undefined;
}

/** details.retryAfterSeconds of a QuiverError (RATE_LIMITED and the like), when it has one. */
function retryAfterOf(err: QuiverError | undefined): number | undefined {
  const s = err?.details?.retryAfterSeconds;
  return typeof s === "number" && Number.isFinite(s) && s >= 0 ? Math.ceil(s) : undefined;
}

/** The longest wait any of these errors asks for (for a Retry-After header), if any does. */
export function retryAfterSecondsOf(errors: readonly unknown[]): number | undefined {
  let longest: number | undefined;
  for (const e of errors) {
    const s = retryAfterOf(quiverErrorOf(e));
    if (s !== undefined && (longest === undefined || s > longest)) longest = s;
  }
  return longest;
}

/**
 * Sets Retry-After on a plain HTTP response when the error asks the caller to wait (a
 * QuiverError with details.retryAfterSeconds): for routes outside GraphQL, such as the
 * OpenAI-style ones. GraphQL over HTTP gets it from the limits plugin.
 */
export function setRetryAfter(res: { setHeader(name: string, value: string): unknown }, err: unknown): void {
  const s = retryAfterSecondsOf([err]);
  if (s !== undefined) res.setHeader("Retry-After", String(s));
}

export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const base = { ...(formatted.locations ? { locations: formatted.locations } : {}), ...(formatted.path ? { path: formatted.path } : {}) };
  // graphql-js's own bounds (the token limit, the overlap rule's budget) reach here as its errors.
  const quiver = quiverErrorOf(error) ?? graphqlBoundError(formatted.message);
  if (quiver) {
    const retryAfterSeconds = retryAfterOf(quiver);
    return {
      message: quiver.message,
      ...base,
      extensions: {
        code: quiver.code,
        ...(quiver.hint ? { hint: quiver.hint } : {}),
        ...(quiver.details ? { details: quiver.details } : {}),
        ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
      },
    };
  }
  const original = unwrapResolverError(error);
  const code = formatted.extensions?.code;
  if (typeof code === "string" && (requestErrorCodes.has(code) || code in httpStatusOf)) {
    return { message: formatted.message, ...base, extensions: { code } };
  }
  // A GraphQLError raised by graphql-js while coercing variables or arguments carries no
  // original error and is about the request: show it.
  if (original instanceof GraphQLError && !original.originalError && code === undefined) {
    return { message: formatted.message, ...base, extensions: { code: "BAD_USER_INPUT" } };
  }
  console.error("[api] internal error:", original);
  return { message: "Internal server error", ...base, extensions: { code: "INTERNAL" } };
}
