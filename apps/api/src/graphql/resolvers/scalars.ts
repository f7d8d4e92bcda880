import { GraphQLScalarType, Kind } from "graphql";
import { QuiverError } from "../../errors.js";

function parseDate(value: unknown): Date {
  if (typeof value === "string") {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime()) && /^\d{4}-\d{2}-\d{2}/.test(value)) return d;
  }
  throw new QuiverError("BAD_USER_INPUT", `DateTime must be an ISO-8601 string, got ${JSON.stringify(value)}`);
}

export const DateTime = new GraphQLScalarType({
  name: "DateTime",
  description: "An ISO-8601 date and time in UTC.",
  serialize: (value) => {
    if (value instanceof Date) return value.toISOString();
    return parseDate(value).toISOString();
  },
  parseValue: parseDate,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new QuiverError("BAD_USER_INPUT", "DateTime must be a string literal");
    return parseDate(ast.value);
  },
});
