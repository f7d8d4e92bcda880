/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Fuzzing adapter files: thousands of seeded mutations of adapter_config.json and
// adapter_model.safetensors through the checks an upload runs (PEFT inspection, then the
// engine against the base model). Every outcome is acceptance or a coded ADAPTER_INVALID /
// PAYLOAD_TOO_LARGE, never a crash or another error; the engine keeps serving. Then a few
// hundred mutated uploads over HTTP: rejected ones leave no trace, accepted ones are whole.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { QuiverError } from "../../apps/api/src/errors.js";
import { inspectPeftFolder } from "../../apps/api/src/pool/peft.js";
import { login } from "../helpers/server.js";
import { SAMPLES, filesUnder, startPoolServer, tempDir, upload, writeAdapter } from "../helpers/pool.js";

const ITERATIONS = 3000;
const HTTP_ITERATIONS = 200;

function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}
type Rng = ReturnType<typeof rng>;

const weird: unknown[] = [null, "", "LORA", -1, 0, 1e308, 3.5, [], {}, ["q_proj"], "q_proj", true, "x".repeat(5000)];
const configKeys = ["peft_type", "r", "lora_alpha", "target_modules", "use_rslora", "base_model_name_or_path", "rank_pattern", "bias", "use_dora"];

function mutateConfig(r: Rng, text: string): string {
  const json = JSON.parse(text) as Record<string, unknown>;
  switch (r.int(7)) {
    case 0:
      delete json[r.pick(configKeys)];
      return JSON.stringify(json);
    case 1:
      json[r.pick(configKeys)] = r.pick(weird);
      return JSON.stringify(json);
    case 2:
      json.r = r.int(300) - 20;
      return JSON.stringify(json);
    case 3:
      json.target_modules = Array.from({ length: r.int(4) }, () =>
        r.pick(["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head", ".*"]),
      );
      return JSON.stringify(json);
    case 4:
      return text.slice(0, r.int(text.length));
    case 5: {
      const i = r.int(text.length);
      return text.slice(0, i) + String.fromCharCode(r.int(256)) + text.slice(i + 1);
    }
    default:
      json.lora_alpha = r.pick([0, -8, Number.MAX_VALUE, "8", 16]);
      return JSON.stringify(json);
  }
}

function mutateWeights(r: Rng, buf: Buffer): Buffer {
  const out = Buffer.from(buf);
  const headerLen = Number(out.readBigUInt64LE(0));
  switch (r.int(8)) {
    case 0:
      return out.subarray(0, r.int(out.length));
    case 1:
      for (let i = 0, n = 1 + r.int(10); i < n; i++) out[r.int(out.length)] = r.int(256);
      return out;
    case 2:
      for (let i = 0, n = 1 + r.int(4); i < n; i++) out[8 + r.int(headerLen)] = r.int(256);
      return out;
    case 3:
      out.writeBigUInt64LE(BigInt(r.pick([0, 1, headerLen - 1, headerLen + 1, out.length, 2 ** 40, r.int(1 << 20)])), 0);
      return out;
    case 4: {
      const at = 8 + headerLen + 4 * r.int((out.length - 8 - headerLen) / 4);
      out.writeFloatLE(r.pick([Number.NaN, Infinity, -Infinity]), at);
      return out;
    }
    case 5:
    case 6: {
      const header = JSON.parse(out.subarray(8, 8 + headerLen).toString()) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
      const names = Object.keys(header).filter((k) => k !== "__metadata__");
      const name = r.pick(names);
      const e = header[name]!;
      switch (r.int(5)) {
        case 0:
          e.dtype = r.pick(["F64", "I8", "BF16", "F16", "U8", "bogus"]);
          break;
        case 1:
          e.shape = e.shape.map((d) => d + r.pick([-1, 1, 0]));
          break;
        case 2:
          e.data_offsets = [e.data_offsets[0]! + r.int(64), e.data_offsets[1]! + r.int(64)];
          break;
        case 3:
          header[name.replace(/layers\.\d+/, `layers.${r.int(9)}`).replace("lora_A", r.pick(["lora_A", "lora_B", "lora_C"]))] = e;
          delete header[name];
          break;
        default:
          delete header[name];
      }
      const json = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      return Buffer.concat([len, json, out.subarray(8 + headerLen)]);
    }
    default:
      return Buffer.concat([out, Buffer.alloc(r.int(64))]);
  }
}

let quiver: Quiver;
let url: string;
let token: string;
let dataDir: string;
const goodDir = writeAdapter({ seed: 77, modules: ["q_proj", "k_proj", "o_proj", "up_proj"] });
const goodConfig = readFileSync(path.join(goodDir, "adapter_config.json"), "utf8");
const goodWeights = readFileSync(path.join(goodDir, "adapter_model.safetensors"));

beforeAll(async () => {
  ({ quiver, dataDir } = await startPoolServer(await openCatalog({})));
  url = quiver.api.url;
  token = await login(url);
}, 120_000);
afterAll(() => quiver?.close());

function mutated(r: Rng): { config: string; weights: Buffer } {
  const which = r.int(3);
  return {
    config: which !== 1 ? mutateConfig(r, goodConfig) : goodConfig,
    weights: which !== 0 ? mutateWeights(r, goodWeights) : goodWeights,
  };
}

test(`${ITERATIONS} mutated adapters: accepted or ADAPTER_INVALID, never a crash; the engine keeps serving`, async () => {
  const r = rng(20261128);
  const dir = tempDir("fuzz");
  const outcomes: Record<string, number> = {};
  const unexpected: string[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const m = mutated(r);
    writeFileSync(path.join(dir, "adapter_config.json"), m.config);
    writeFileSync(path.join(dir, "adapter_model.safetensors"), m.weights);
    try {
      await inspectPeftFolder(dir, { maxRank: 64 });
      await quiver.services.model!.validateAdapter(dir);
      outcomes.accepted = (outcomes.accepted ?? 0) + 1;
    } catch (err) {
      if (err instanceof QuiverError && (err.code === "ADAPTER_INVALID" || err.code === "PAYLOAD_TOO_LARGE")) {
        const reason = String(err.details?.reason ?? err.code);
        outcomes[reason] = (outcomes[reason] ?? 0) + 1;
      } else {
        unexpected.push(`#${i}: ${(err as Error).name} ${(err as { code?: string }).code ?? ""} ${(err as Error).message}`);
      }
    }
  }
  console.log(`fuzz outcomes over ${ITERATIONS}: ${JSON.stringify(outcomes)}`);
  expect(unexpected).toEqual([]);
  // Both kinds of outcome happened: the fuzzer reaches the engine, and rejects things.
  expect(outcomes.accepted ?? 0).toBeGreaterThan(0);
  expect(Object.keys(outcomes).length).toBeGreaterThan(5);
  // The engine still validates and serves with a good adapter.
  mkdirSync(path.join(dir, "good"), { recursive: true });
  writeFileSync(path.join(dir, "good", "adapter_config.json"), goodConfig);
  writeFileSync(path.join(dir, "good", "adapter_model.safetensors"), goodWeights);
  await expect(quiver.services.model!.validateAdapter(path.join(dir, "good"))).resolves.toMatchObject({ maxRank: 4 });
  const engine = quiver.services.model!.engine;
  const seq = await engine.createSequence();
  const out = await engine.generate(seq, [1, 2, 3], { maxTokens: 4 });
  expect(out.tokens.length).toBeGreaterThan(0);
  await engine.freeSequence(seq);
}, 300_000);

test(`${HTTP_ITERATIONS} mutated uploads: rejected ones leave no trace, accepted ones are whole`, async () => {
  const r = rng(7);
  let accepted = 0;
  for (let i = 0; i < HTTP_ITERATIONS; i++) {
    const m = mutated(r);
    const res = await upload(url, token, { name: `fuzz-${i}`, samples: SAMPLES }, [
      { filename: "adapter_config.json", data: Buffer.from(m.config) },
      { filename: "adapter_model.safetensors", data: m.weights },
    ]);
    if (res.status === 201) accepted++;
    else expect([413, 422]).toContain(res.status);
  }
  await quiver.services.pool.idle();
  const prisma = quiver.services.catalog.prisma;
  expect(await prisma.adapter.count()).toBe(accepted);
  expect(await prisma.adapterVersion.count()).toBe(accepted);
  expect(await prisma.adapterSample.count()).toBe(accepted * SAMPLES.length);
  expect(await prisma.adapter.count({ where: { status: "ACTIVE" } })).toBe(accepted);
  expect(filesUnder(path.join(dataDir, "adapters"))).toHaveLength(accepted * 2);
  expect(filesUnder(path.join(dataDir, "staging"))).toEqual([]);
  console.log(`fuzz over HTTP: ${accepted} of ${HTTP_ITERATIONS} mutated uploads were valid adapters and were registered whole`);
}, 300_000);
