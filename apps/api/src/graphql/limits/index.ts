// The limits, applied before execution on both transports:
//   HTTP (Apollo): parseOptions.maxTokens, validationRules, and limitsPlugin (cost and
//     argument maxima with the request's variables, in didResolveOperation; Retry-After).
//   WebSocket (graphql-ws): checkOperation in onSubscribe does the same three steps.
import { GraphQLError, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema } from "graphql";
import type { ApolloServerPlugin, BaseContext } from "@apollo/server";
import { isQuiverError } from "../../errors.js";
import { retryAfterSecondsOf } from "../format-error.js";
import { operationCost } from "./cost.js";
import { asRequestError, tokenLimitError, type GraphQLLimits } from "./limits.js";
import { limitRules } from "./rules.js";

export { defaultGraphQLLimits, graphqlLimitsFrom, type GraphQLLimits } from "./limits.js";
export { limitRules } from "./rules.js";
export { operationCost } from "./cost.js";

/** Parses with the token limit; a refusal is QUERY_TOO_COMPLEX, other syntax errors stay GraphQL syntax errors. */
export function parseLimited(source: string, limits: GraphQLLimits): DocumentNode {
  try {
    return parse(source, { maxTokens: limits.maxTokens });
  } catch (err) {
    const refused = err instanceof GraphQLError ? tokenLimitError(err.message) : undefined;
    if (refused) throw asRequestError(refused);
    throw err;
  }
}

/**
 * Everything a request must pass before it runs: the token limit while parsing, graphql-js's
 * rules with the limit rules, then the cost and argument maxima with the variables.
 * Returns the document, or the errors to answer with.
 */
export function checkOperation(
  schema: GraphQLSchema,
  limits: GraphQLLimits,
  request: { query: string; variables?: Record<string, unknown> | null | undefined; operationName?: string | null | undefined },
): { document: DocumentNode; errors?: undefined } | { document?: undefined; errors: readonly GraphQLError[] } {
  let document: DocumentNode;
  try {
    document = parseLimited(request.query, limits);
  } catch (err) {
    // A syntax error as Apollo codes it; the token limit's refusal carries its QuiverError.
    if (err instanceof GraphQLError)
      return {
        errors: [
          err.originalError
            ? err
            : new GraphQLError(err.message, { source: err.source, positions: err.positions, extensions: { code: "GRAPHQL_PARSE_FAILED" } }),
        ],
      };
    throw err;
  }
  const errors = validate(schema, document, [...specifiedRules, ...limitRules(limits)]);
  if (errors.length) return { errors };
  try {
    operationCost(schema, document, request.variables, request.operationName, limits);
  } catch (err) {
    if (isQuiverError(err)) return { errors: [asRequestError(err)] };
    throw err;
  }
  return { document };
}

/** Apollo's half: the cost check once the operation is known, and Retry-After on rate-limited answers. */
export function limitsPlugin<TContext extends BaseContext>(limits: GraphQLLimits): ApolloServerPlugin<TContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, request }) {
          try {
            operationCost(schema, document, request.variables, request.operationName, limits);
          } catch (err) {
            throw isQuiverError(err) ? asRequestError(err) : err;
          }
        },
        async willSendResponse({ response, errors }) {
          const seconds = retryAfterSecondsOf(errors ?? []);
          if (seconds !== undefined) response.http.headers.set("retry-after", String(seconds));
        },
      };
    },
  };
}
