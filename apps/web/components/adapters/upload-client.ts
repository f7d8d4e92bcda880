// Adapter uploads: the one call from the dashboard to the API that is not GraphQL. Issue 6
// defines the file part of pool management as HTTP multipart (POST {apiUrl}/v1/adapters and
// POST {apiUrl}/v1/adapters/{id}/versions); every other read and write goes through GraphQL.
// Keep it in this module. XMLHttpRequest (not fetch) because it reports upload progress.
// The fields go before the files, in the order the API checks them (name, description,
// visibility, samples as a JSON array string), so that a bad field fails before any byte of
// the weights is stored.

import type { Visibility } from "./adapter-view";

export interface UploadFields {
  name: string;
  description: string;
  visibility: Visibility;
  samples: string[];
}

export interface UploadedAdapter {
  id: string;
  name: string;
  status: string;
  version: number | null;
}

export interface UploadProgress {
  loaded: number;
  total: number;
}

/** The API's refusal: code, where it applies (details.field, details.reason, hint) and, for a limit, the wait. */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly reason?: string,
    readonly field?: string,
    readonly hint?: string,
    /** Seconds to wait before sending again (Retry-After, else details.retryAfterSeconds). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export interface UploadHandle {
  done: Promise<UploadedAdapter>;
  abort(): void;
}

interface ErrorDetails {
  reason?: string;
  field?: string;
  retryAfterSeconds?: unknown;
}

/** The route's error body: GraphQL-shaped `errors`, or `{ error: { code, message, details } }`. */
interface ErrorBody {
  errors?: { message?: string; extensions?: { code?: string; hint?: string; details?: ErrorDetails } }[];
  error?: { code?: string; message?: string; hint?: string; details?: ErrorDetails };
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), else from the body. */
function retryAfter(header: string | null, details: ErrorDetails | undefined): number | undefined {
  if (header) {
    const seconds = /^\d+$/.test(header.trim()) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
    if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  }
  const v = details?.retryAfterSeconds;
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.ceil(v) : undefined;
}

/** The refusal in an answer that is not a 201. */
function refusal(status: number, body: ErrorBody | undefined, retryAfterHeader: string | null): UploadError {
  const graphqlShaped = body?.errors?.[0];
  const e = graphqlShaped
    ? { message: graphqlShaped.message, code: graphqlShaped.extensions?.code, hint: graphqlShaped.extensions?.hint, details: graphqlShaped.extensions?.details }
    : body?.error;
  return new UploadError(
    e?.message ?? `The API answered ${status} without an error body.`,
    e?.code ?? "INTERNAL",
    status,
    e?.details?.reason,
    e?.details?.field,
    e?.hint,
    retryAfter(retryAfterHeader, e?.details),
  );
}

/** The Retry-After header when the browser lets the page read it (CORS must expose it). */
function retryAfterHeader(xhr: XMLHttpRequest): string | null {
  return xhr.getAllResponseHeaders().toLowerCase().includes("retry-after:") ? xhr.getResponseHeader("retry-after") : null;
}

export interface UploadTarget {
  apiUrl: string;
  token: string;
  /** The team the adapter joins (X-Quiver-Team); new versions belong to the adapter's team. */
  teamId?: string | null;
}

/** A new adapter: its fields, then adapter_config.json + adapter_model.safetensors or one archive. */
export function uploadAdapter(target: UploadTarget, fields: UploadFields, files: File[], onProgress: (p: UploadProgress) => void): UploadHandle {
  const form = new FormData();
  form.append("name", fields.name);
  form.append("description", fields.description);
  form.append("visibility", fields.visibility);
  form.append("samples", JSON.stringify(fields.samples));
  for (const f of files) form.append("file", f, f.name);
  return send(target, "/v1/adapters", form, onProgress);
}

/** New weights for an adapter (files only); they become its next version. */
export function uploadVersion(target: UploadTarget, adapterId: string, files: File[], onProgress: (p: UploadProgress) => void): UploadHandle {
  const form = new FormData();
  for (const f of files) form.append("file", f, f.name);
  return send(target, `/v1/adapters/${encodeURIComponent(adapterId)}/versions`, form, onProgress);
}

function send(target: UploadTarget, route: string, form: FormData, onProgress: (p: UploadProgress) => void): UploadHandle {
  const xhr = new XMLHttpRequest();
  const done = new Promise<UploadedAdapter>((resolve, reject) => {
    xhr.open("POST", `${target.apiUrl}${route}`);
    xhr.setRequestHeader("authorization", `Bearer ${target.token}`);
    if (target.teamId) xhr.setRequestHeader("x-quiver-team", target.teamId);
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress({ loaded: e.loaded, total: e.total });
    };
    xhr.onload = () => {
      let body: (ErrorBody & { adapter?: UploadedAdapter }) | undefined;
      try {
        body = JSON.parse(xhr.responseText) as ErrorBody & { adapter?: UploadedAdapter };
      } catch {
        body = undefined;
      }
      if (xhr.status === 201 && body?.adapter) return resolve(body.adapter);
      reject(refusal(xhr.status, body, retryAfterHeader(xhr)));
    };
    xhr.onerror = () => reject(new UploadError(`Cannot reach the Quiver API at ${target.apiUrl}.`, "NETWORK", 0));
    xhr.onabort = () => reject(new UploadError("The upload was cancelled.", "ABORTED", 0));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}
