// Errors of the engine package: one code per failure, from the C API's quiver_status names
// (include/quiver.h) plus the few that arise on the TypeScript side.

export const ENGINE_ERROR_CODES = [
  "INVALID_ARGUMENT",
  "FILE_MISSING",
  "FILE_CORRUPT",
  "UNSUPPORTED",
  "SHAPE_MISMATCH",
  "DTYPE",
  "NON_FINITE",
  "RANK_LIMIT",
  "SIZE_LIMIT",
  "BASE_MISMATCH",
  "CONTEXT_OVERFLOW",
  "NO_FREE_SLOT",
  "NOT_FOUND",
  "CANCELLED",
  "OUT_OF_MEMORY",
  "DEVICE",
  "INTERNAL",
  // TypeScript side
  "BINARY_MISSING", // the addon was not built
  "CALLBACK_FAILED", // an onToken callback threw; the generation was cancelled
] as const;

export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

export class EngineError extends Error {
  readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = "EngineError";
    this.code = code;
  }
}

export function isEngineErrorCode(code: unknown): code is EngineErrorCode {
  return typeof code === "string" && (ENGINE_ERROR_CODES as readonly string[]).includes(code);
}

/** Converts what the binding rejects with (an Error with a string `code`) into an EngineError. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  return new EngineError(isEngineErrorCode(code) ? code : "INTERNAL", message);
}

/** Throws INVALID_ARGUMENT unless `ok`. */
export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new EngineError("INVALID_ARGUMENT", message);
}
