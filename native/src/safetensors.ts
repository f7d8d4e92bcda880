// safetensors in TypeScript: a streaming writer (llama2.c conversion, synthetic models for
// benchmarks and tests) and a reader that decodes F32/F16/BF16 to Float32Array (tests). The
// reader refuses a tensor named twice and a shape that disagrees with its bytes (FILE_CORRUPT),
// as the engine's reader does.
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";

import { EngineError } from "./errors.js";

export type Dtype = "F32" | "F16" | "BF16";

export interface TensorToWrite {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** The values; converted to `dtype` on write (round to nearest even). */
  data: Float32Array;
}

const BYTES: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2 };

/** float32 -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function f32ToBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToF32(b: number): number {
  return new Float32Array(new Uint32Array([b << 16]).buffer)[0]!;
}

/** float32 -> IEEE half bits, round to nearest even. */
export function f32ToF16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry into the exponent is right
  return sign | h;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function encode(t: TensorToWrite): Uint8Array {
  if (t.dtype === "F32") return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint16Array(t.data.length);
  const conv = t.dtype === "BF16" ? f32ToBf16 : f32ToF16;
  for (let i = 0; i < t.data.length; i++) out[i] = conv(t.data[i]!);
  return new Uint8Array(out.buffer);
}

/** Writes tensors in order; the header is padded with spaces to a multiple of 8 bytes. */
export function writeSafetensors(file: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel !== t.data.length) throw new EngineError("SHAPE_MISMATCH", `${t.name}: shape [${t.shape}] needs ${numel} values, got ${t.data.length}`);
    const bytes = numel * BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = openSync(file, "w");
  try {
    writeSync(fd, head);
    writeSync(fd, Buffer.from(json));
    for (const t of tensors) writeSync(fd, encode(t));
  } finally {
    closeSync(fd);
  }
}

export interface TensorRead {
  dtype: string;
  shape: number[];
  data: Float32Array;
}

/**
 * The keys of a JSON object's top level, in order and with repeats (JSON.parse keeps only the
 * last of a repeated key). `text` must already have parsed as one JSON object.
 */
function headerKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (depth !== 1) continue;
      let j = i + 1;
      while (/\s/.test(text[j] ?? "")) j++;
      if (text[j] === ":") keys.push(JSON.parse(text.slice(start, i + 1)) as string);
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
  }
  return keys;
}

/** Reads every tensor of a file (tests and tools; the engine reads files natively). */
export function readSafetensors(file: string): Map<string, TensorRead> {
  return readSafetensorsFile(file).tensors;
}

/** The tensors and the header's __metadata__, from one read of the file. */
export function readSafetensorsFile(file: string): { tensors: Map<string, TensorRead>; metadata: Record<string, string> } {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const metadata = (header.__metadata__ ?? {}) as unknown as Record<string, string>;
  const seen = new Set<string>();
  for (const name of headerKeys(buf.subarray(8, 8 + n).toString("utf8"))) {
    if (seen.has(name)) throw new EngineError("FILE_CORRUPT", `${file}: tensor ${name} appears twice in the header`);
    if (name !== "__metadata__") seen.add(name);
  }
  const base = 8 + n;
  const out = new Map<string, TensorRead>();
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const numel = e.shape.reduce((a, b) => a * b, 1);
    const size = BYTES[e.dtype as Dtype];
    if (!Number.isSafeInteger(numel) || (size !== undefined && numel * size !== e.data_offsets[1] - e.data_offsets[0]))
      throw new EngineError("FILE_CORRUPT", `${file}: tensor ${name} has shape [${e.shape}] for bytes [${e.data_offsets}]`);
    const raw = buf.subarray(base + e.data_offsets[0], base + e.data_offsets[1]);
    const data = new Float32Array(numel);
    if (e.dtype === "F32") {
      for (let i = 0; i < numel; i++) data[i] = raw.readFloatLE(4 * i);
    } else if (e.dtype === "BF16" || e.dtype === "F16") {
      const conv = e.dtype === "BF16" ? bf16ToF32 : f16ToF32;
      for (let i = 0; i < numel; i++) data[i] = conv(raw.readUInt16LE(2 * i));
    } else {
      throw new EngineError("DTYPE", `${file}: ${name} is ${e.dtype}`);
    }
    out.set(name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors: out, metadata };
}
