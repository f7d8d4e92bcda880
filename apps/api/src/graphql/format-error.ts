// One formatError: QuiverErrors and GraphQL's own request errors reach the client with their
// code; anything else is logged and masked, so internals (SQL, stack traces, paths) never leak.
import type { GraphQLFormattedError } from "graphql";
import { GraphQLError } from "graphql";
import { unwrapResolverError } from "@apollo/server/errors";
import { httpStatusOf, isQuiverError, type QuiverError } from "../errors.js";

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

export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const base = { ...(formatted.locations ? { locations: formatted.locations } : {}), ...(formatted.path ? { path: formatted.path } : {}) };
  if (isQuiverError(original)) {
    return {
      message: original.message,
      ...base,
      extensions: {
        code: original.code,
        ...(original.hint ? { hint: original.hint } : {}),
        ...(original.details ? { details: original.details } : {}),
      },
    };
  }
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
