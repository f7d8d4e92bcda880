// Adapter uploads: the one call from the dashboard to the API that is not GraphQL. Issue 6
// defines the file part of pool management as HTTP multipart (POST {apiUrl}/v1/adapters and
// POST {apiUrl}/v1/adapters/{id}/versions); every other read and write goes through GraphQL.
// Keep it in this module. XMLHttpRequest (not fetch) because it reports upload progress.
// The fields go before the files, in the order the API checks them (name, description,
// visibility, samples as a JSON array string), so that a bad field fails before any byte of
// the weights is stored.

export interface UploadFields {
  name: string;
  description: string;
  visibility: "PRIVATE" | "PUBLIC";
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

/** The API's refusal: code, and where it applies (details.field, details.reason, hint). */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly reason?: string,
    readonly field?: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export interface UploadHandle {
  done: Promise<UploadedAdapter>;
  abort(): void;
}

interface ErrorBody {
  errors?: { message?: string; extensions?: { code?: string; hint?: string; details?: { reason?: string; field?: string } } }[];
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
      const first = body?.errors?.[0];
      const ext = first?.extensions;
      reject(
        new UploadError(
          first?.message ?? `The API answered ${xhr.status} without an error body.`,
          ext?.code ?? "INTERNAL",
          xhr.status,
          ext?.details?.reason,
          ext?.details?.field,
          ext?.hint,
        ),
      );
    };
    xhr.onerror = () => reject(new UploadError(`Cannot reach the Quiver API at ${target.apiUrl}.`, "NETWORK", 0));
    xhr.onabort = () => reject(new UploadError("The upload was cancelled.", "ABORTED", 0));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}
