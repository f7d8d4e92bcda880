// A synthetic base model and PEFT adapters (real Hugging Face / PEFT folders written by the
// engine package), a server that serves that model, and multipart uploads.
import { mkdtempSync, readFileSync, readdirSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeSyntheticAdapter, writeSyntheticModel, type Projection, type SyntheticModelSpec } from "../../native/src/synthetic.js";
import type { Catalog } from "../../apps/api/src/catalog/database.js";
import type { Quiver } from "../../apps/api/src/app.js";
import { startTestServer } from "./server.js";

export const MODEL: SyntheticModelSpec = { vocab: 64, dim: 32, hidden: 64, layers: 2, heads: 4, kvHeads: 2, maxPos: 128, tied: false, dtype: "F32", seed: 1 };
/** Same layers, other widths: adapters for it do not fit MODEL. */
export const OTHER_MODEL: SyntheticModelSpec = { ...MODEL, dim: 48, hidden: 96, seed: 2 };

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `quiver-${prefix}-`));
}

export function writeModel(spec = MODEL): string {
  const dir = tempDir("model");
  writeSyntheticModel(dir, spec);
  return dir;
}

export function writeAdapter(opts: { rank?: number; modules?: Projection[]; seed?: number; model?: SyntheticModelSpec } = {}): string {
  const dir = tempDir("adapter");
  writeSyntheticAdapter(dir, opts.model ?? MODEL, {
    rank: opts.rank ?? 4,
    alpha: 8,
    rslora: false,
    modules: opts.modules ?? ["q_proj", "v_proj"],
    seed: opts.seed ?? 3,
  });
  return dir;
}

export const SAMPLES = Array.from({ length: 12 }, (_, i) => `Translate sentence number ${i} from English into French, please.`);

export async function startPoolServer(catalog: Catalog, env: Record<string, string> = {}): Promise<{ quiver: Quiver; dataDir: string; modelDir: string }> {
  const modelDir = writeModel();
  const dataDir = tempDir("data");
  const quiver = await startTestServer(catalog, {
    QUIVER_MODEL: modelDir,
    QUIVER_DATA_DIR: dataDir,
    QUIVER_MAX_ADAPTER_BYTES: String(1024 * 1024),
    QUIVER_DEVICE: "cpu",
    ...env,
  });
  return { quiver, dataDir, modelDir };
}

export interface UploadFile {
  filename: string;
  data: Buffer;
}

export function adapterFiles(dir: string): UploadFile[] {
  return ["adapter_config.json", "adapter_model.safetensors"].map((f) => ({ filename: f, data: readFileSync(path.join(dir, f)) }));
}

export async function upload(
  url: string,
  token: string,
  fields: Record<string, string | string[] | undefined>,
  files: UploadFile[],
  route = "/v1/adapters",
): Promise<{
  status: number;
  body: {
    adapter?: { id: string; status: string; version: number };
    errors?: { message: string; extensions: { code: string; details?: { reason?: string } } }[];
  };
}> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    form.append(k, Array.isArray(v) ? JSON.stringify(v) : v);
  }
  for (const f of files) form.append("file", new Blob([f.data]), f.filename);
  const res = await fetch(`${url}${route}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  return { status: res.status, body: (await res.json()) as never };
}

/** Every file under a folder (relative paths), for "nothing left behind" checks. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import("node:fs").Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}
