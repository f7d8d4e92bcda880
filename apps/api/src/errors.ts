// One error type with one set of codes, from the catalog to the browser. Resolvers and HTTP
// routes let a QuiverError through with its code and message; any other error is logged and
// masked as INTERNAL (see graphql/format-error.ts).

export type ErrorCode =
  // the caller
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "ACCESS_REVOKED"
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED"
  | "QUOTA_EXCEEDED"
  | "OVERLOADED"
  // the server is stopping (SIGTERM): it finishes what runs, admits nothing new (Retry-After)
  | "SHUTTING_DOWN"
  // a GraphQL request past a limit (depth, aliases, cost, tokens...; details.limit names it)
  | "QUERY_TOO_COMPLEX"
  // adapters and their samples (details.reason names the precise check that failed)
  | "ADAPTER_INVALID"
  | "SAMPLES_INVALID"
  // the service
  | "MODEL_UNAVAILABLE"
  // the engine failed a step (or a sequence, or its restart) that this request was in: a
  // server fault that a retry may not meet (the scheduler keeps serving; see scheduler.ts)
  | "ENGINE_ERROR"
  | "DATABASE_UNAVAILABLE"
  | "MIGRATION_FAILED"
  | "CONFIG_INVALID"
  | "INTERNAL";

/** HTTP status for each code, for routes outside GraphQL and for GraphQL's `extensions.http`. */
export const httpStatusOf: Record<ErrorCode, number> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  ACCESS_REVOKED: 403,
  BAD_USER_INPUT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  OVERLOADED: 503,
  SHUTTING_DOWN: 503,
  QUERY_TOO_COMPLEX: 400,
  ADAPTER_INVALID: 422,
  SAMPLES_INVALID: 422,
  MODEL_UNAVAILABLE: 503,
  // 503, not 500: the fault is the engine's, passing (the scheduler fails only the requests
  // in the failed step and re-creates the engine after repeated failures), so a retry is sound.
  ENGINE_ERROR: 503,
  DATABASE_UNAVAILABLE: 503,
  MIGRATION_FAILED: 500,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
};

export class QuiverError extends Error {
  override readonly name = "QuiverError";
  readonly code: ErrorCode;
  /** What the caller can do about it, when there is something. */
  readonly hint: string | undefined;
  /** Structured details safe to show the caller (field names, limits). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }
}

export function isQuiverError(err: unknown): err is QuiverError {
  return err instanceof QuiverError;
}
