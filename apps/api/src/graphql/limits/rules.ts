// Validation rules for the limits that need no variables: operations per document, depth,
// aliases and directives (graphql-armor's counters), password fields per document and, when
// it is off, introspection. They run with graphql-js's own rules, before anything executes,
// on a document the token limit has already bounded.
import { Kind, type ASTVisitor, type GraphQLError, type ValidationContext, type ValidationRule } from "graphql";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import { QuiverError } from "../../errors.js";
import { asRequestError, tooComplex, type GraphQLLimits } from "./limits.js";

/** Mutation fields that hash a password (argon2): at most one of them per document. */
export const passwordFields = new Set(["login", "acceptInvitation"]);

/** graphql-armor reports "... limit of N exceeded, found M."; the count for our details. */
function found(err: GraphQLError): number | undefined {
  const m = /found (\d+)/.exec(err.message);
  return m ? Number(m[1]) : undefined;
}

type ArmorRule = (options: {
  n: number;
  flattenFragments?: boolean;
  onReject: ((ctx: ValidationContext | null, err: GraphQLError) => void)[];
  propagateOnRejection: boolean;
}) => (context: ValidationContext) => object;

/** An armor counter whose refusal becomes our coded error (reported, not thrown, so validation carries on cheaply). */
function armor(make: ArmorRule, n: number, refuse: (actual: number | undefined) => QuiverError): ValidationRule {
  return make({
    n,
    // A fragment spread adds no level (armor's default counts one, or two, per spread).
    flattenFragments: true,
    propagateOnRejection: false,
    onReject: [(ctx, err) => ctx?.reportError(asRequestError(refuse(found(err))))],
  }) as ValidationRule;
}

function operationsRule(max: number): ValidationRule {
  return (context) => ({
    Document(node) {
      const operations = node.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      if (operations.length > max) {
        context.reportError(
          asRequestError(
            tooComplex(
              `The document has ${operations.length} operations; the limit is ${max} (QUIVER_GRAPHQL_MAX_OPERATIONS).`,
              { limit: "operations", max, actual: operations.length },
              "Send one operation per request.",
            ),
            operations.slice(max),
          ),
        );
      }
    },
  });
}

function passwordFieldsRule(): ValidationRule {
  return (context) => {
    let seen = 0;
    return {
      Field(node) {
        if (!passwordFields.has(node.name.value) || context.getParentType() !== context.getSchema().getMutationType()) return;
        seen++;
        if (seen === 2) {
          context.reportError(
            asRequestError(
              tooComplex(
                `The document asks for ${node.name.value} more than once; one password check per request is the limit.`,
                { limit: "passwordFields", max: 1, actual: seen },
                "Sign in with one login per request.",
              ),
              node,
            ),
          );
        }
      },
    };
  };
}

function noIntrospectionRule(): ValidationRule {
  return (context): ASTVisitor => ({
    Field(node) {
      if (node.name.value === "__schema" || node.name.value === "__type") {
        context.reportError(
          asRequestError(
            new QuiverError(
              "FORBIDDEN",
              `Introspection is turned off on this server (QUIVER_GRAPHQL_INTROSPECTION=off): ${node.name.value} cannot be queried.`,
              { hint: "The schema is published as schema.graphql in the repository." },
            ),
            node,
          ),
        );
      }
    },
  });
}

/** The rules for these limits, to run beside graphql-js's specifiedRules. */
export function limitRules(limits: GraphQLLimits): ValidationRule[] {
  return [
    operationsRule(limits.maxOperations),
    armor(maxDepthRule, limits.maxDepth, (actual) =>
      tooComplex(`The operation is ${actual ?? "too many"} levels deep; the limit is ${limits.maxDepth} (QUIVER_GRAPHQL_MAX_DEPTH).`, {
        limit: "depth",
        max: limits.maxDepth,
        ...(actual !== undefined ? { actual } : {}),
      }),
    ),
    armor(maxAliasesRule, limits.maxAliases, (actual) =>
      tooComplex(`The operation has ${actual ?? "too many"} aliases; the limit is ${limits.maxAliases} (QUIVER_GRAPHQL_MAX_ALIASES).`, {
        limit: "aliases",
        max: limits.maxAliases,
        ...(actual !== undefined ? { actual } : {}),
      }),
    ),
    armor(maxDirectivesRule, limits.maxDirectives, (actual) =>
      tooComplex(`The operation has ${actual ?? "too many"} directives; the limit is ${limits.maxDirectives} (QUIVER_GRAPHQL_MAX_DIRECTIVES).`, {
        limit: "directives",
        max: limits.maxDirectives,
        ...(actual !== undefined ? { actual } : {}),
      }),
    ),
    passwordFieldsRule(),
    ...(limits.introspection ? [] : [noIntrospectionRule()]),
  ];
}
