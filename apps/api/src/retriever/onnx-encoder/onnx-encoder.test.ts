/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// The ONNX encoder kind against a tiny sentence-transformer the test builds itself (same
// signature as a Hugging Face export), checked against a plain-JS forward pass.
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { OnnxEncoder } from "./onnx-encoder.js";
import { loadEncoder, parseEncoderSpec } from "../encoder-factory.js";
import { RetrieverErrorCode } from "../errors.js";
import { referenceHidden, writeTinyModelFolder, type TinyModel } from "../../../../../test/retriever/tiny-sentence-model.js";

function referenceVector(m: TinyModel, ids: number[], pooling: "mean" | "cls"): Float64Array {
  const hidden = referenceHidden(m, ids);
  const rows = pooling === "cls" ? hidden.slice(0, 1) : hidden;
  const v = new Float64Array(m.hidden);
  for (const r of rows) r.forEach((x, k) => (v[k]! += x));
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

describe("OnnxEncoder", () => {
  let root: string;
  let model: TinyModel;
  let meanDir: string;
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), "quiver-onnx-enc-"));
    meanDir = path.join(root, "mean");
    model = writeTinyModelFolder(meanDir, { maxSeqLength: 12 });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test("tokenizes with [CLS] ... [SEP], pools, normalises: matches the JS forward pass to 1e-5", async () => {
    const enc = await OnnxEncoder.load(meanDir);
    try {
      expect(enc.kind).toBe("onnx");
      expect(enc.dimension).toBe(16);
      expect(enc.maxTokens).toBe(12);
      expect(enc.identity).toMatch(/^onnx:[0-9a-f]{16}$/);
      const texts = ["The movie was great.", "Translate to French: what is the capital?", "bad film"];
      const { vectors, truncations } = await enc.encode(texts);
      expect(truncations).toEqual([]);
      texts.forEach((t, i) => {
        const ids = enc.tokenize(t).ids;
        expect(ids[0]).toBe(2); // [CLS]
        expect(ids.at(-1)).toBe(3); // [SEP]
        const want = referenceVector(model, ids, "mean");
        vectors[i]!.forEach((x, k) => expect(Math.abs(x - want[k]!)).toBeLessThan(1e-5));
      });
      // Unknown words become [UNK] (id 1).
      expect(enc.tokenize("zebra").ids).toEqual([2, 1, 3]);
    } finally {
      await enc.close();
    }
  });

  test("CLS pooling uses the first token, and the pooling config is part of the identity", async () => {
    const clsDir = path.join(root, "cls");
    writeTinyModelFolder(clsDir, { pooling: "cls", maxSeqLength: 12 });
    const [mean, cls] = await Promise.all([OnnxEncoder.load(meanDir), OnnxEncoder.load(clsDir)]);
    try {
      expect(cls.pooling).toBe("cls");
      expect(cls.identity).not.toBe(mean.identity);
      const text = "what is the capital city?";
      const got = (await cls.encode([text])).vectors[0]!;
      const want = referenceVector(model, cls.tokenize(text).ids, "cls");
      got.forEach((x, k) => expect(Math.abs(x - want[k]!)).toBeLessThan(1e-5));
      // The same folder loads to the same identity.
      expect((await OnnxEncoder.load(meanDir).then(async (e) => (await e.close(), e))).identity).toBe(mean.identity);
    } finally {
      await mean.close();
      await cls.close();
    }
  });

  test("long input is cut to max_seq_length with [SEP] kept, and reported", async () => {
    const enc = await OnnxEncoder.load(meanDir);
    try {
      const long = "the good movie was great . ".repeat(10);
      const { truncations } = await enc.encode(["short", long]);
      expect(truncations).toHaveLength(1);
      expect(truncations[0]).toMatchObject({ index: 1, keptTokens: 10 });
      expect(truncations[0]!.tokens).toBeGreaterThan(10);
      const ids = enc.tokenize(long).ids;
      expect(ids).toHaveLength(12);
      expect(ids.at(-1)).toBe(3);
      await expect(enc.encode([" "])).rejects.toMatchObject({ code: RetrieverErrorCode.EMPTY_INPUT });
    } finally {
      await enc.close();
    }
  });

  test("missing or mismatched files give coded errors", async () => {
    const load = (dir: string) => OnnxEncoder.load(dir);
    await expect(load(path.join(root, "nowhere"))).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISSING });

    const noTok = path.join(root, "no-tokenizer");
    writeTinyModelFolder(noTok);
    unlinkSync(path.join(noTok, "tokenizer.json"));
    await expect(load(noTok)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISSING });

    const noModel = path.join(root, "no-model");
    writeTinyModelFolder(noModel);
    unlinkSync(path.join(noModel, "model.onnx"));
    await expect(load(noModel)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISSING });

    const badPooling = path.join(root, "bad-pooling");
    writeTinyModelFolder(badPooling);
    writeFileSync(path.join(badPooling, "1_Pooling", "config.json"), JSON.stringify({ word_embedding_dimension: 16, pooling_mode_max_tokens: true }));
    await expect(load(badPooling)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH });

    const wrongDim = path.join(root, "wrong-dim");
    writeTinyModelFolder(wrongDim);
    writeFileSync(path.join(wrongDim, "1_Pooling", "config.json"), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_mean_tokens: true }));
    await expect(load(wrongDim)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH });

    const wrongOutput = path.join(root, "wrong-output");
    writeTinyModelFolder(wrongOutput, { outputName: "logits" });
    await expect(load(wrongOutput)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH });

    // A tokenizer with more tokens than the model has embedding rows.
    const smallVocab = path.join(root, "small-vocab");
    writeTinyModelFolder(smallVocab, { vocabRows: 10 });
    await expect(load(smallVocab)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH });

    const garbage = path.join(root, "garbage");
    writeTinyModelFolder(garbage);
    writeFileSync(path.join(garbage, "model.onnx"), "not a model");
    await expect(load(garbage)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH });
  });

  test("QUIVER_ENCODER=onnx:<folder> selects it; a bad spec is a coded error", async () => {
    expect(parseEncoderSpec("use-lite")).toEqual({ kind: "use-lite" });
    expect(parseEncoderSpec(`onnx:${meanDir}`)).toEqual({ kind: "onnx", folder: meanDir });
    expect(() => parseEncoderSpec("bert")).toThrow(expect.objectContaining({ code: RetrieverErrorCode.ENCODER_SPEC_INVALID }));
    const enc = await loadEncoder({ spec: `onnx:${meanDir}`, prefix: "query: " });
    try {
      expect(enc.kind).toBe("onnx");
      expect(enc.identity).toMatch(/^onnx:[0-9a-f]{16}\+prefix:[0-9a-f]{12}$/);
    } finally {
      await enc.close();
    }
  });
});
