// Structural checks of a PEFT LoRA folder, before the engine checks it against the base
// model: adapter_config.json against its schema, the safetensors header (read alone, bounded),
// and the agreement between the two (modules, ranks, dtypes). Failures are ADAPTER_INVALID
// with details.reason naming the check.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { open, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { QuiverError } from "../errors.js";
import { CONFIG_FILE, WEIGHTS_FILE } from "./limits.js";

export const PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type Projection = (typeof PROJECTIONS)[number];

export interface PeftSummary {
  rank: number;
  alpha: number;
  scaling: "STANDARD" | "RSLORA";
  targetModules: Projection[];
  dtype: string;
  byteSize: number;
  /** sha256 of adapter_model.safetensors */
  contentHash: string;
  baseModelName: string | null;
}

function invalid(reason: string, message: string, hint?: string): QuiverError {
  return new QuiverError("ADAPTER_INVALID", message, { details: { reason }, ...(hint ? { hint } : {}) });
}

const configSchema = z.object({
  peft_type: z.string().refine((s) => s.toUpperCase() === "LORA", "only LORA adapters are supported"),
  r: z.number().int().min(1),
  lora_alpha: z.number().positive().max(1e6),
  target_modules: z.array(z.string().min(1)).min(1),
  use_rslora: z.boolean().optional(),
  base_model_name_or_path: z.string().nullish(),
  rank_pattern: z.record(z.string(), z.number().int().min(1)).optional(),
  alpha_pattern: z.record(z.string(), z.number().positive()).optional(),
  use_dora: z.boolean().optional(),
  bias: z.string().optional(),
});

const tensorName = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z]+_proj)\.lora_(A|B)\.weight$/;
const supportedDtypes = new Set(["F32", "F16", "BF16"]);
const bytesPer: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

async function readConfig(dir: string) {
  let text: string;
  try {
    text = await readFile(path.join(dir, CONFIG_FILE), "utf8");
  } catch {
    throw invalid("FILE_MISSING", `${CONFIG_FILE} is missing`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw invalid("CONFIG_INVALID", `${CONFIG_FILE} is not valid JSON`);
  }
  const parsed = configSchema.safeParse(json);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw invalid("CONFIG_INVALID", `${CONFIG_FILE}: ${i.path.join(".") || "config"}: ${i.message}`);
  }
  if (parsed.data.use_dora) throw invalid("UNSUPPORTED", "DoRA adapters are not supported");
  if (parsed.data.bias && parsed.data.bias !== "none") throw invalid("UNSUPPORTED", `bias "${parsed.data.bias}" is not supported (only "none")`);
  for (const m of parsed.data.target_modules) {
    if (!(PROJECTIONS as readonly string[]).includes(m)) {
      throw invalid("UNSUPPORTED", `target module "${m}" is not one of ${PROJECTIONS.join(", ")}`);
    }
  }
  return parsed.data;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

async function readHeader(file: string, fileSize: number): Promise<Record<string, HeaderEntry>> {
  if (fileSize < 8) throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE} is truncated (${fileSize} bytes)`);
  const fh = await open(file, "r");
  try {
    const len = Buffer.alloc(8);
    await fh.read(len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (n < 2 || n > MAX_HEADER_BYTES || 8 + n > fileSize) throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE} has an invalid header length (${n})`);
    const buf = Buffer.alloc(n);
    await fh.read(buf, 0, n, 8);
    let header: unknown;
    try {
      header = JSON.parse(buf.toString("utf8"));
    } catch {
      throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE} has a header that is not JSON`);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE} has a malformed header`);
    const entries: Record<string, HeaderEntry> = {};
    const dataBytes = fileSize - 8 - n;
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === "__metadata__") continue;
      const e = raw as Partial<HeaderEntry>;
      const ok =
        typeof e?.dtype === "string" &&
        Array.isArray(e.shape) &&
        e.shape.every((d) => Number.isInteger(d) && d > 0) &&
        Array.isArray(e.data_offsets) &&
        e.data_offsets.length === 2 &&
        e.data_offsets.every((o) => Number.isInteger(o) && o >= 0);
      if (!ok) throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE}: tensor "${name}" has a malformed entry`);
      const [start, end] = e.data_offsets!;
      if (end < start || end > dataBytes) throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE}: tensor "${name}" lies past the end of the file (truncated?)`);
      if (supportedDtypes.has(e.dtype!) && end - start !== e.shape!.reduce((a, b) => a * b, 1) * bytesPer[e.dtype!]!) {
        throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE}: tensor "${name}" has ${end - start} bytes for shape [${e.shape!.join(", ")}]`);
      }
      entries[name] = e as HeaderEntry;
    }
    return entries;
  } finally {
    await fh.close();
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** Checks the folder's two files and how they fit together; returns what the catalog records. */
export async function inspectPeftFolder(dir: string, limits: { maxRank: number }): Promise<PeftSummary> {
  const config = await readConfig(dir);
  const weights = path.join(dir, WEIGHTS_FILE);
  let size: number;
  try {
    size = (await stat(weights)).size;
  } catch {
    throw invalid("FILE_MISSING", `${WEIGHTS_FILE} is missing`);
  }
  const header = await readHeader(weights, size);
  const names = Object.keys(header);
  if (names.length === 0) throw invalid("FILE_CORRUPT", `${WEIGHTS_FILE} holds no tensors`);

  const dtypes = new Set<string>();
  const modules = new Set<string>();
  const pairs = new Map<string, { A?: HeaderEntry; B?: HeaderEntry; module: string }>();
  for (const name of names) {
    const m = tensorName.exec(name);
    if (!m)
      throw invalid(
        "UNEXPECTED_TENSOR",
        `${WEIGHTS_FILE}: "${name}" is not a PEFT LoRA tensor name`,
        "Expected names like base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.",
      );
    const e = header[name]!;
    if (!supportedDtypes.has(e.dtype)) throw invalid("DTYPE", `${WEIGHTS_FILE}: "${name}" has dtype ${e.dtype}; supported: F32, F16, BF16`);
    if (e.shape.length !== 2) throw invalid("SHAPE_MISMATCH", `${WEIGHTS_FILE}: "${name}" is not a matrix`);
    dtypes.add(e.dtype);
    modules.add(m[3]!);
    const key = `${m[1]}.${m[3]}`;
    const pair = pairs.get(key) ?? { module: m[3]! };
    pair[m[4] as "A" | "B"] = e;
    pairs.set(key, pair);
  }

  const declared = new Set(config.target_modules);
  const found = [...modules].sort();
  if (found.length !== declared.size || found.some((m) => !declared.has(m))) {
    throw invalid("CONFIG_MISMATCH", `${CONFIG_FILE} targets [${[...declared].sort().join(", ")}] but the weights hold [${found.join(", ")}]`);
  }
  let maxRank = 0;
  for (const [key, pair] of pairs) {
    if (!pair.A || !pair.B)
      throw invalid("CONFIG_MISMATCH", `${WEIGHTS_FILE}: layer module ${key} has lora_${pair.A ? "A" : "B"} but no lora_${pair.A ? "B" : "A"}`);
    const rank = pair.A.shape[0]!;
    if (pair.B.shape[1] !== rank) throw invalid("SHAPE_MISMATCH", `${WEIGHTS_FILE}: ${key} lora_A has rank ${rank} but lora_B has ${pair.B.shape[1]}`);
    const expected = config.rank_pattern && Object.keys(config.rank_pattern).length ? undefined : config.r;
    if (expected !== undefined && rank !== expected) {
      throw invalid("CONFIG_MISMATCH", `${CONFIG_FILE} says r = ${config.r} but ${key} has rank ${rank}`);
    }
    maxRank = Math.max(maxRank, rank);
  }
  if (maxRank > limits.maxRank) throw invalid("RANK_LIMIT", `rank ${maxRank} is above this server's limit of ${limits.maxRank}`);

  return {
    rank: maxRank,
    alpha: config.lora_alpha,
    scaling: config.use_rslora ? "RSLORA" : "STANDARD",
    targetModules: PROJECTIONS.filter((p) => declared.has(p)),
    dtype: dtypes.size === 1 ? [...dtypes][0]!.toLowerCase() : "mixed",
    byteSize: size,
    contentHash: await sha256File(weights),
    baseModelName: config.base_model_name_or_path ?? null,
  };
}
