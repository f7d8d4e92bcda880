import { jest } from "@jest/globals";
import { GraphQLError, parse } from "graphql";
import { QuiverError } from "../errors.js";
import { formatError, retryAfterSecondsOf, setRetryAfter } from "./format-error.js";

const asResolverError = (err: Error) => new GraphQLError(err.message, { path: ["login"], originalError: err });

test("RATE_LIMITED carries retryAfterSeconds in extensions (and in details)", () => {
  const e = asResolverError(new QuiverError("RATE_LIMITED", "Too many sign-in attempts; try again in 30 s.", { details: { retryAfterSeconds: 30 } }));
  expect(formatError(e.toJSON(), e)).toEqual({
    message: "Too many sign-in attempts; try again in 30 s.",
    path: ["login"],
    extensions: { code: "RATE_LIMITED", details: { retryAfterSeconds: 30 }, retryAfterSeconds: 30 },
  });
});

test("the longest wait of several errors becomes Retry-After; errors without one give none", () => {
  const wait = (s: number) => asResolverError(new QuiverError("RATE_LIMITED", "wait", { details: { retryAfterSeconds: s } }));
  expect(retryAfterSecondsOf([wait(3), asResolverError(new QuiverError("NOT_FOUND", "no")), wait(12)])).toBe(12);
  expect(retryAfterSecondsOf([asResolverError(new Error("boom"))])).toBeUndefined();
  const headers: Record<string, string> = {};
  const res = { setHeader: (n: string, v: string) => (headers[n] = v) };
  setRetryAfter(res, new QuiverError("RATE_LIMITED", "wait", { details: { retryAfterSeconds: 2.2 } }));
  expect(headers).toEqual({ "Retry-After": "3" });
  setRetryAfter(res, new QuiverError("OVERLOADED", "busy"));
  expect(headers).toEqual({ "Retry-After": "3" });
});

test("graphql-js's own bounds become QUERY_TOO_COMPLEX", () => {
  let parseError: GraphQLError | undefined;
  try {
    parse("{ " + "a ".repeat(100) + "}", { maxTokens: 50 });
  } catch (e) {
    parseError = e as GraphQLError;
  }
  // As Apollo reports it.
  const formatted = { message: parseError!.message, extensions: { code: "GRAPHQL_PARSE_FAILED" } };
  expect(formatError(formatted, parseError)).toMatchObject({ extensions: { code: "QUERY_TOO_COMPLEX", details: { limit: "tokens", max: 50 } } });
  const aborted = new GraphQLError("Validation aborted.");
  expect(formatError({ message: aborted.message, extensions: { code: "GRAPHQL_VALIDATION_FAILED" } }, aborted).extensions).toMatchObject({
    code: "QUERY_TOO_COMPLEX",
    details: { limit: "fieldComparisons" },
  });
});

test("other errors keep their behaviour: codes through, internals masked", () => {
  const syntax = new GraphQLError("Syntax Error: Expected Name, found <EOF>.");
  expect(formatError({ message: syntax.message, extensions: { code: "GRAPHQL_PARSE_FAILED" } }, syntax)).toEqual({
    message: syntax.message,
    extensions: { code: "GRAPHQL_PARSE_FAILED" },
  });
  const internal = asResolverError(new Error("SELECT secret FROM users"));
  const spy = jest.spyOn(console, "error").mockImplementation(() => undefined);
  expect(formatError(internal.toJSON(), internal)).toEqual({ message: "Internal server error", path: ["login"], extensions: { code: "INTERNAL" } });
  spy.mockRestore();
});
