// What the load benchmarks (`quiver bench load`, `quiver bench soak`) do against a running
// server as a client would: GraphQL over HTTP, signing in, uploading an adapter through
// /v1/adapters, and the shape of a synthetic adapter for the served model.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { SyntheticModelSpec } from "@quiver/engine/synthetic";

/** A GraphQL request over HTTP; throws with the errors when the answer has any. */
export async function gql<T>(url: string, query: string, variables: Record<string, unknown>, token?: string): Promise<T> {
  const r = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const j = (await r.json()) as { data: T; errors?: unknown };
  if (j.errors) throw new Error(JSON.stringify(j.errors));
  return j.data;
}

/** Signs in; resolves to the session token. */
export async function login(url: string, email: string, password: string): Promise<string> {
  return (
    await gql<{ login: { token: string } }>(url, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`, { e: email, p: password })
  ).login.token;
}

/** Uploads the PEFT folder `dir` (adapter_config.json, adapter_model.safetensors) as a new adapter; resolves to its id (PENDING until embedded). */
export async function uploadAdapter(url: string, token: string, a: { name: string; samples: string[]; dir: string; teamId?: string }): Promise<string> {
  const form = new FormData();
  form.append("name", a.name);
  if (a.teamId) form.append("teamId", a.teamId);
  form.append("samples", JSON.stringify(a.samples));
  for (const f of ["adapter_config.json", "adapter_model.safetensors"]) form.append("file", new Blob([readFileSync(path.join(a.dir, f))]), f);
  const res = await fetch(`${url}/v1/adapters`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  if (res.status !== 201) throw new Error(`upload of ${a.name} failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { adapter: { id: string } }).adapter.id;
}

export interface ModelConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  max_position_embeddings?: number;
}

/** The served model's shape, for writeSyntheticAdapter (adapters fitting it). */
export function adapterSpecOf(model: ModelConfig): SyntheticModelSpec {
  return {
    vocab: model.vocab_size,
    dim: model.hidden_size,
    hidden: model.intermediate_size,
    layers: model.num_hidden_layers,
    heads: model.num_attention_heads,
    kvHeads: model.num_key_value_heads,
    maxPos: 512,
    tied: true,
    dtype: "F32",
    seed: 0,
  };
}
