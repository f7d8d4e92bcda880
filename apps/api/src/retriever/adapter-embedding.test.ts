import { checkSamples, samplesHash, MIN_SAMPLES, MAX_SAMPLES } from "./adapter-embedding.js";
import { mixtureWeights } from "./mixture-weights.js";
import { RetrieverErrorCode } from "./errors.js";
import { cutText, tokenizeCapped } from "./text-input.js";

const samples = (n: number) => Array.from({ length: n }, (_, i) => `sample input number ${i}`);

describe("sample checks", () => {
  test("accepts 10-20 distinct samples", () => {
    expect(() => checkSamples(samples(MIN_SAMPLES))).not.toThrow();
    expect(() => checkSamples(samples(MAX_SAMPLES))).not.toThrow();
  });
  test("too few, too many, duplicates, empty: coded errors", () => {
    expect(() => checkSamples(samples(9))).toThrow(expect.objectContaining({ code: RetrieverErrorCode.TOO_FEW_SAMPLES }));
    expect(() => checkSamples(samples(21))).toThrow(expect.objectContaining({ code: RetrieverErrorCode.TOO_MANY_SAMPLES }));
    const dup = [...samples(11), " sample input number 3 "];
    expect(() => checkSamples(dup)).toThrow(
      expect.objectContaining({ code: RetrieverErrorCode.DUPLICATE_SAMPLES, message: expect.stringContaining("samples 3 and 11") }),
    );
    expect(() => checkSamples(dup, { duplicates: "allow" })).not.toThrow();
    expect(() => checkSamples([...samples(10), "  "])).toThrow(expect.objectContaining({ code: RetrieverErrorCode.EMPTY_INPUT }));
  });
  test("the samples hash ignores order and sees any edit", () => {
    const s = samples(12);
    expect(samplesHash([...s].reverse())).toBe(samplesHash(s));
    expect(samplesHash([...s.slice(1), "sample input number 0!"])).not.toBe(samplesHash(s));
    // Length-prefixed: moving text across a boundary changes the hash.
    expect(samplesHash(["ab", "c"])).not.toBe(samplesHash(["a", "bc"]));
  });
});

describe("mixture weights", () => {
  test("uniform is 1/k as in the paper", () => {
    expect(mixtureWeights([0.9, 0.5, 0.1])).toEqual([1 / 3, 1 / 3, 1 / 3]);
    expect(mixtureWeights([])).toEqual([]);
  });
  test("softmax over scores with a temperature: ordered, sums to 1, sharper when colder", () => {
    const warm = mixtureWeights([0.9, 0.5, 0.1], { kind: "softmax", temperature: 1 });
    const cold = mixtureWeights([0.9, 0.5, 0.1], { kind: "softmax", temperature: 0.05 });
    for (const w of [warm, cold]) {
      expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      expect(w[0]!).toBeGreaterThan(w[1]!);
      expect(w[1]!).toBeGreaterThan(w[2]!);
    }
    expect(cold[0]!).toBeGreaterThan(0.99);
    expect(warm[0]! / warm[1]!).toBeCloseTo(Math.exp(0.4), 10);
  });
  test("a bad temperature is a coded error", () => {
    for (const t of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => mixtureWeights([1, 2], { kind: "softmax", temperature: t })).toThrow(expect.objectContaining({ code: RetrieverErrorCode.BAD_REQUEST }));
    }
  });
});

describe("text cutting", () => {
  test("never splits a surrogate pair", () => {
    expect(cutText("ab😀cd", 3)).toBe("ab");
    expect(cutText("ab😀cd", 4)).toBe("ab😀");
  });
  test("widens the cut when the first characters hold too few tokens", () => {
    // One token per 50 characters: 1,000 characters give 20 tokens, far from 128.
    const word = "x".repeat(49) + " ";
    const text = word.repeat(400);
    const r = tokenizeCapped(text, "", (s) => s.split(" ").filter(Boolean), 128);
    expect(r.ids).toHaveLength(128);
    expect(r.truncation!.keptChars).toBeGreaterThan(1000);
    expect(r.truncation!.keptTokens).toBe(128);
  });
});
