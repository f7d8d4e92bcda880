// Where an upload's refusal belongs in the form: the API's code (and details.field) picks the
// field, details.reason names the check that failed. A refusal for a limit (RATE_LIMITED:
// too many uploads in progress; OVERLOADED) keeps its wait for the form's countdown.
import { problemText } from "@/components/ui/problem";
import type { UploadError } from "./upload-client";

/** A refusal as the upload forms show it. */
export interface UploadProblem {
  message: string;
  hint?: string;
  /** Seconds to wait before sending again, when the API said. */
  retryAfterSeconds?: number;
}

export type UploadErrorPlace = "name" | "description" | "samples" | "files" | "form";

export function placeOf(err: UploadError): UploadErrorPlace {
  switch (err.code) {
    case "CONFLICT":
      return "name";
    case "BAD_USER_INPUT":
      if (err.field === "name" || err.field === "description") return err.field;
      return err.field?.startsWith("samples") ? "samples" : "form";
    case "SAMPLES_INVALID":
      return "samples";
    case "ADAPTER_INVALID":
    case "PAYLOAD_TOO_LARGE":
    case "QUOTA_EXCEEDED":
      return "files";
    default:
      return "form";
  }
}

const reasons: Record<string, string> = {
  FILE_CORRUPT: "A file is damaged",
  FILE_MISSING: "A file is missing",
  UNEXPECTED_FILE: "Unexpected file",
  SHAPE_MISMATCH: "Weights of the wrong shape",
  BASE_MISMATCH: "Made for another base model",
  NON_FINITE: "Weights hold NaN or infinity",
  CONFIG_MISMATCH: "Config and weights disagree",
  UNSAFE_PATH: "Unsafe path in the archive",
  COMPRESSION_RATIO: "The archive expands too much",
  TOO_MANY_ENTRIES: "The archive holds too many files",
  DUPLICATE_ENTRY: "The archive holds a file twice",
};

/** The message as shown: the check that failed (when known), then the API's words. */
export function describeUploadError(err: UploadError): string {
  const reason = err.reason ? reasons[err.reason] : undefined;
  if (err.code === "PAYLOAD_TOO_LARGE") return `Too large: ${err.message}`;
  if (err.code === "QUOTA_EXCEEDED") return `Over the team's storage quota: ${err.message}`;
  if (err.code === "RATE_LIMITED" || err.code === "OVERLOADED") return problemText(err);
  return reason ? `${reason}: ${err.message}` : err.message;
}

export function uploadProblem(err: UploadError): UploadProblem {
  return { message: describeUploadError(err), hint: err.hint, retryAfterSeconds: err.retryAfterSeconds };
}
