// Bad input: every failure is a coded error, nothing crashes, and an engine that met a bad
// adapter or request keeps serving.
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";

import { Engine, EngineError, readSafetensors, writeSafetensors } from "@quiver/engine";

import { describeOn } from "./backends.js";
import { runCli, tempDir } from "./cli.js";
import { modelConfigJson, SMALL, writeRandomAdapter, writeRandomModel, type ModelSpec } from "./fixtures.js";

const root = tempDir("bad-input");
const good = path.join(root, "good");
const model = writeRandomModel(good, SMALL);

/** A copy of the good model folder, then `mutate` breaks it. */
function brokenModel(name: string, mutate: (dir: string) => void): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ["config.json", "model.safetensors"]) copyFileSync(path.join(good, f), path.join(dir, f));
  mutate(dir);
  return dir;
}

/** Rewrites a safetensors file's header text with `edit` (the data stays as it is). */
function editHeader(file: string, edit: (header: string) => string): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = Buffer.from(edit(buf.subarray(8, 8 + n).toString("utf8")));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(file, Buffer.concat([len, header, buf.subarray(8 + n)]));
}

/** Adds `"name": {entry}` at the end of a header (a name already there appears twice). */
const addEntry = (name: string, entry: object) => (header: string) => header.replace(/}\s*$/, `,${JSON.stringify(name)}:${JSON.stringify(entry)}}`);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return (err as EngineError).code;
  }
  return "no error";
}

describe("loading a base model", () => {
  const setConfig = (patch: Record<string, unknown>) => (dir: string) =>
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...modelConfigJson(SMALL), ...patch }));

  test.each([
    ["a missing folder", () => path.join(root, "nowhere"), "FILE_MISSING"],
    ["malformed config.json", () => brokenModel("bad-json", (d) => writeFileSync(path.join(d, "config.json"), '{"hidden_size": 48,')), "FILE_CORRUPT"],
    ["an unsupported architecture", () => brokenModel("gpt2", setConfig({ architectures: ["GPT2LMHeadModel"], model_type: "gpt2" })), "UNSUPPORTED"],
    ["rope scaling", () => brokenModel("rope", setConfig({ rope_scaling: { type: "linear", factor: 2 } })), "UNSUPPORTED"],
    ["a truncated safetensors file", () => brokenModel("truncated", (d) => truncateSync(path.join(d, "model.safetensors"), 5000)), "FILE_CORRUPT"],
    [
      "a garbage header",
      () => brokenModel("garbage", (d) => writeFileSync(path.join(d, "model.safetensors"), Buffer.from("\xff\xff\xff\xff\xff\xff\xff\x7f{}", "latin1"))),
      "FILE_CORRUPT",
    ],
    [
      "a header that is not JSON",
      () =>
        brokenModel("notjson", (d) => {
          const buf = readFileSync(path.join(d, "model.safetensors"));
          buf.write("#", 9);
          writeFileSync(path.join(d, "model.safetensors"), buf);
        }),
      "FILE_CORRUPT",
    ],
    ["shapes that disagree with config.json", () => brokenModel("shape", setConfig({ intermediate_size: 80 })), "SHAPE_MISMATCH"],
    ["a missing layer", () => brokenModel("layers", setConfig({ num_hidden_layers: 3 })), "SHAPE_MISMATCH"],
    ["no weights file", () => brokenModel("noweights", (d) => writeFileSync(path.join(d, "model.safetensors.index.json"), "{}")), "FILE_CORRUPT"],
    // A second entry for a tensor, over other bytes: which one would count?
    [
      "a tensor name twice in the header",
      () =>
        brokenModel("twice", (d) =>
          editHeader(path.join(d, "model.safetensors"), addEntry("model.norm.weight", { dtype: "F32", shape: [SMALL.dim], data_offsets: [0, 4 * SMALL.dim] })),
        ),
      "FILE_CORRUPT",
    ],
    // 2^52 x 2^12 elements: the count wraps to 0 in 64 bits, which 0 bytes of data would match.
    [
      "a shape whose element count overflows",
      () =>
        brokenModel("numel", (d) =>
          editHeader(path.join(d, "model.safetensors"), addEntry("extra", { dtype: "F32", shape: [2 ** 52, 2 ** 12], data_offsets: [0, 0] })),
        ),
      "FILE_CORRUPT",
    ],
    [
      "a shape whose byte count overflows",
      () =>
        brokenModel("bytes", (d) =>
          editHeader(path.join(d, "model.safetensors"), addEntry("extra", { dtype: "F32", shape: [2 ** 31, 2 ** 31], data_offsets: [0, 0] })),
        ),
      "FILE_CORRUPT",
    ],
    [
      "a tensor named twice in the shard index",
      () => {
        const dir = path.join(root, "twice-index");
        writeRandomModel(dir, { ...SMALL, shards: 2 });
        const index = path.join(dir, "model.safetensors.index.json");
        const text = readFileSync(index, "utf8");
        const other = text.includes('"model.norm.weight": "model-00001') ? "model-00002-of-00002.safetensors" : "model-00001-of-00002.safetensors";
        writeFileSync(index, text.replace('"weight_map": {', `"weight_map": {\n    "model.norm.weight": "${other}",`));
        return dir;
      },
      "FILE_CORRUPT",
    ],
  ])("%s fails with a code", async (_name, dir, code) => {
    expect(await codeOf(Engine.open(dir(), { device: "cpu" }))).toBe(code);
  });

  test("NaN weights fail with NON_FINITE, an integer dtype with DTYPE", async () => {
    const spec: ModelSpec = { ...SMALL, seed: 3 };
    const nan = path.join(root, "nan");
    const m = writeRandomModel(nan, spec);
    const layer = m.layers[1]!;
    layer.gate[7] = NaN;
    const named = (name: string, shape: number[], data: Float32Array) => ({ name, dtype: "F32" as const, shape, data });
    const tensors = [named("model.embed_tokens.weight", [spec.vocab, spec.dim], m.embed)];
    m.layers.forEach((L, l) => {
      const p = `model.layers.${l}.`;
      tensors.push(
        named(p + "input_layernorm.weight", [spec.dim], L.attnNorm),
        named(p + "self_attn.q_proj.weight", [48, 48], L.q),
        named(p + "self_attn.k_proj.weight", [24, 48], L.k),
        named(p + "self_attn.v_proj.weight", [24, 48], L.v),
        named(p + "self_attn.o_proj.weight", [48, 48], L.o),
        named(p + "post_attention_layernorm.weight", [spec.dim], L.ffnNorm),
        named(p + "mlp.gate_proj.weight", [76, 48], L.gate),
        named(p + "mlp.up_proj.weight", [76, 48], L.up),
        named(p + "mlp.down_proj.weight", [48, 76], L.down),
      );
    });
    tensors.push(named("model.norm.weight", [spec.dim], m.norm), named("lm_head.weight", [spec.vocab, spec.dim], m.lmHead));
    writeSafetensors(path.join(nan, "model.safetensors"), tensors);
    expect(await codeOf(Engine.open(nan, { device: "cpu" }))).toBe("NON_FINITE");

    // The same tensor stored as I32: patch the header's dtype string in place (F32 -> I32).
    layer.gate[7] = 0;
    writeSafetensors(path.join(nan, "model.safetensors"), tensors);
    const buf = readFileSync(path.join(nan, "model.safetensors"));
    const header = buf.subarray(0, 8 + Number(buf.readBigUInt64LE(0))).toString("latin1");
    const at = header.indexOf('"F32"', header.indexOf("model.layers.1.mlp.gate_proj.weight"));
    buf.write('"I32"', at, "latin1");
    writeFileSync(path.join(nan, "model.safetensors"), buf);
    expect(await codeOf(Engine.open(nan, { device: "cpu" }))).toBe("DTYPE");
  });
});

// On the fast CPU path, and on CUDA when a GPU answers.
for (const device of ["cpu", "cuda-emulated", "cuda"] as const)
  describeOn(device)(`a serving engine on ${device} meets bad adapters and requests`, () => {
    let engine: Engine;
    let seq = 0;
    const adapterDir = (name: string) => path.join(root, `adapters-${device}`, name);
    const stillServes = async () => {
      const s = await engine.createSequence();
      const out = await engine.step([{ sequence: s, tokens: [1, 2, 3] }]);
      await engine.freeSequence(s);
      expect(out.results[0]!.ok).toBe(true);
    };

    beforeAll(async () => {
      engine = await Engine.open(good, { device, maxRank: 16, maxAdapterBytes: 50_000 });
      seq = await engine.createSequence();
    });
    afterAll(() => engine?.close());

    const cfg = model.config;
    const all = ["q", "k", "v", "o", "gate", "up", "down"] as const;
    test.each([
      ["a rank above the limit", "RANK_LIMIT", (d: string) => writeRandomAdapter(d, cfg, { rank: 32, alpha: 32, modules: ["q"], seed: 1 })],
      ["an adapter above the size limit", "SIZE_LIMIT", (d: string) => writeRandomAdapter(d, cfg, { rank: 16, alpha: 16, modules: [...all], seed: 2 })],
      [
        "an adapter for another base model",
        "BASE_MISMATCH",
        (d: string) => writeRandomAdapter(d, { ...cfg, dim: 64, heads: 4, headDim: 16 }, { rank: 4, alpha: 8, modules: ["q", "v"], seed: 3 }),
      ],
      [
        "an adapter for a deeper model",
        "BASE_MISMATCH",
        (d: string) => writeRandomAdapter(d, { ...cfg, layers: 4 }, { rank: 4, alpha: 8, modules: ["q"], layers: [3], seed: 4 }),
      ],
      ["DoRA", "UNSUPPORTED", (d: string) => writeRandomAdapter(d, cfg, { rank: 4, alpha: 8, modules: ["q"], seed: 5 }, { use_dora: true })],
      [
        "an lm_head target",
        "UNSUPPORTED",
        (d: string) => writeRandomAdapter(d, cfg, { rank: 4, alpha: 8, modules: ["q"], seed: 6 }, { target_modules: ["q_proj", "lm_head"] }),
      ],
      [
        "a config that says another rank",
        "SHAPE_MISMATCH",
        (d: string) => writeRandomAdapter(d, cfg, { rank: 4, alpha: 8, modules: ["q"], seed: 7 }, { r: 8 }),
      ],
      ["a missing adapter_config.json", "FILE_MISSING", (d: string) => mkdirSync(d, { recursive: true })],
      ["a non-LoRA PEFT type", "UNSUPPORTED", (d: string) => writeRandomAdapter(d, cfg, { rank: 4, alpha: 8, modules: ["q"], seed: 8 }, { peft_type: "IA3" })],
    ])("%s fails with %s", async (name, code, make) => {
      const dir = adapterDir(name.replaceAll(" ", "-"));
      make(dir);
      const err = await engine.loadAdapter(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).code).toBe(code);
      if (code === "BASE_MISMATCH") expect((err as EngineError).message).toContain("maybe wrong base model?");
      await stillServes();
    });

    test("a tensor named twice or a shape whose element count overflows fails with FILE_CORRUPT", async () => {
      const dir = adapterDir("twice");
      writeRandomAdapter(dir, cfg, { rank: 4, alpha: 8, modules: ["q", "v"], seed: 10 });
      const file = path.join(dir, "adapter_model.safetensors");
      const original = readFileSync(file);
      // layer 0's lora_A of v_proj again, over layer 1's bytes
      const name = "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight";
      const header = original.subarray(8, 8 + Number(original.readBigUInt64LE(0))).toString("utf8");
      const layer1 = (JSON.parse(header) as Record<string, { data_offsets: number[] }>)[name.replace("layers.0", "layers.1")]!;
      editHeader(file, addEntry(name, { dtype: "F32", shape: [4, cfg.dim], data_offsets: layer1.data_offsets }));
      expect(await codeOf(engine.loadAdapter(dir))).toBe("FILE_CORRUPT");
      writeFileSync(file, original);
      editHeader(
        file,
        addEntry("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight.x", { dtype: "F32", shape: [2 ** 52, 2 ** 12], data_offsets: [0, 0] }),
      );
      expect(await codeOf(engine.loadAdapter(dir))).toBe("FILE_CORRUPT");
      await stillServes();
    });

    test("NaN and truncated adapter weights fail with NON_FINITE and FILE_CORRUPT", async () => {
      const dir = adapterDir("nan");
      writeRandomAdapter(dir, cfg, { rank: 4, alpha: 8, modules: ["v"], seed: 9 });
      const file = path.join(dir, "adapter_model.safetensors");
      const buf = readFileSync(file);
      buf.writeFloatLE(NaN, buf.length - 4); // the last value of the last tensor
      writeFileSync(file, buf);
      expect(await codeOf(engine.loadAdapter(dir))).toBe("NON_FINITE");
      truncateSync(file, buf.length - 9);
      expect(await codeOf(engine.loadAdapter(dir))).toBe("FILE_CORRUPT");
      await stillServes();
    });

    test("a prompt longer than the context fails alone; its batch mates run", async () => {
      const long = Array.from({ length: SMALL.maxPos + 1 }, (_, i) => i % SMALL.vocab);
      const other = await engine.createSequence();
      const out = await engine.step([
        { sequence: seq, tokens: long },
        { sequence: other, tokens: [5, 6, 7] },
      ]);
      expect(out.results[0]!.ok).toBe(false);
      expect(out.results[0]!.error!.code).toBe("CONTEXT_OVERFLOW");
      expect(out.results[1]!.ok).toBe(true);
      expect(await engine.sequenceLength(seq)).toBe(0);
      await engine.freeSequence(other);
      await stillServes();
    });

    test("bad tokens, unknown ids and a duplicated sequence are coded per item", async () => {
      const out = await engine.step([
        { sequence: seq, tokens: [SMALL.vocab] },
        { sequence: 999_999, tokens: [1] },
        { sequence: seq, tokens: [1], adapters: [{ adapter: 12345, weight: 1 }] },
      ]);
      expect(out.results.map((r) => r.error?.code)).toEqual(["INVALID_ARGUMENT", "NOT_FOUND", "INVALID_ARGUMENT"]);
      const unknown = await engine.step([{ sequence: seq, tokens: [1], adapters: [{ adapter: 12345, weight: 1 }] }]);
      expect(unknown.results[0]!.error!.code).toBe("NOT_FOUND");
      const empty = await engine.step([{ sequence: seq, tokens: [] }]);
      expect(empty.results[0]!.error!.code).toBe("INVALID_ARGUMENT");
      expect(await codeOf(engine.createSequence({ temperature: -1 }))).toBe("INVALID_ARGUMENT");
      await stillServes();
    });
  });

test("the TypeScript safetensors reader refuses a tensor named twice and a shape whose element count overflows", () => {
  const dir = path.join(root, "ts-reader");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "t.safetensors");
  const write = () => writeSafetensors(file, [{ name: "a", dtype: "F32", shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }]);
  const code = () => {
    try {
      readSafetensors(file);
    } catch (e) {
      return (e as EngineError).code;
    }
    return "no error";
  };
  write();
  expect(code()).toBe("no error");
  editHeader(file, addEntry("a", { dtype: "F32", shape: [2], data_offsets: [0, 8] }));
  expect(code()).toBe("FILE_CORRUPT");
  write();
  editHeader(file, addEntry("b", { dtype: "F32", shape: [2 ** 52, 2 ** 12], data_offsets: [0, 0] }));
  expect(code()).toBe("FILE_CORRUPT");
  write();
  editHeader(file, addEntry("c", { dtype: "F32", shape: [3], data_offsets: [0, 8] }));
  expect(code()).toBe("FILE_CORRUPT");
});

test("convert llama2c rejects a truncated checkpoint with a code", async () => {
  const dir = tempDir("bad-llama2c");
  const ckpt = path.join(dir, "model.bin");
  const header = Buffer.alloc(28);
  [64, 172, 5, 8, 4, 512, 512].forEach((v, i) => header.writeInt32LE(v, 4 * i));
  writeFileSync(ckpt, Buffer.concat([header, Buffer.alloc(4000)]));
  writeFileSync(path.join(dir, "tok.bin"), Buffer.alloc(8));
  const r = await runCli(["convert", "llama2c", "--checkpoint", ckpt, "--tokenizer", path.join(dir, "tok.bin"), "--out", path.join(dir, "out")]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("[FILE_CORRUPT]");
});
