// The retriever's errors: values with a code (../shared/docs/style.md rule 6). Callers branch
// on `code`; the message says what was wrong and, where it helps, what to do.

export const RetrieverErrorCode = {
  /** An input text is empty or only whitespace. */
  EMPTY_INPUT: "EMPTY_INPUT",
  /** QUIVER_ENCODER (or a spec string) names no known encoder kind. */
  ENCODER_SPEC_INVALID: "ENCODER_SPEC_INVALID",
  /** An encoder folder lacks a file it needs. */
  ENCODER_FILE_MISSING: "ENCODER_FILE_MISSING",
  /** An encoder folder's files do not fit together (signature, vocabulary, pooling, sizes). */
  ENCODER_FILE_MISMATCH: "ENCODER_FILE_MISMATCH",
  /** The encoder could not be loaded or run. */
  ENCODER_FAILED: "ENCODER_FAILED",
  /** An adapter has fewer sample inputs than retrieval needs. */
  TOO_FEW_SAMPLES: "TOO_FEW_SAMPLES",
  /** An adapter has more sample inputs than allowed. */
  TOO_MANY_SAMPLES: "TOO_MANY_SAMPLES",
  /** Two sample inputs of one adapter are the same text. */
  DUPLICATE_SAMPLES: "DUPLICATE_SAMPLES",
  /** A vector has the wrong length or is not finite. */
  BAD_VECTOR: "BAD_VECTOR",
  /** A retrieval request is malformed (k, temperature, weighting). */
  BAD_REQUEST: "BAD_REQUEST",
  /** A benchmark data folder is missing files or has malformed ones. */
  DATASET_INVALID: "DATASET_INVALID",
  /** Training data for the retriever head is unusable (too few tasks or samples). */
  TRAINING_DATA_INVALID: "TRAINING_DATA_INVALID",
  /** No active encoder is registered, or the requested one is unknown to the catalog. */
  ENCODER_NOT_REGISTERED: "ENCODER_NOT_REGISTERED",
} as const;

export type RetrieverErrorCode = (typeof RetrieverErrorCode)[keyof typeof RetrieverErrorCode];

export class RetrieverError extends Error {
  readonly code: RetrieverErrorCode;

  constructor(code: RetrieverErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RetrieverError";
    this.code = code;
  }
}

export function isRetrieverError(err: unknown, code?: RetrieverErrorCode): err is RetrieverError {
  return err instanceof RetrieverError && (code === undefined || err.code === code);
}
