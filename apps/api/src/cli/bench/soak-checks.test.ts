// The soak's checks catch what they are there to catch: each is given a right input, then a
// deliberately wrong one.
import { compareBilling, compareCompleted, deliveredRange, rssTrend, slope, type Billed, type Observed, type Reference } from "./soak-checks.js";

// "abcdefgh" in 6 deltas over 8 tokens: the 3rd delta carried 2 tokens ("cd"), the 5th 2 ("fg").
const ref: Reference = { text: "abcdefgh", tokens: 8, finishReason: "length", deltaEnds: [1, 2, 4, 5, 7, 8], tokensAt: [1, 2, 4, 5, 7, 8] };
const completed: Observed = { outcome: "completed", text: "abcdefgh", deltas: 6, finalTokens: 8, finishReason: "length", generationId: "g" };
const done: Billed = { status: "DONE", finishReason: "length", recordTokens: 8, usageTokens: 8 };

describe("compareCompleted", () => {
  test("an exact stream passes", () => {
    expect(compareCompleted(ref, completed)).toEqual([]);
  });
  test("a stream with different text, token count or finish reason fails, saying where", () => {
    expect(compareCompleted(ref, { ...completed, text: "abcdXfgh" })).toEqual([expect.stringContaining("at character 4")]);
    expect(compareCompleted(ref, { ...completed, text: "abcdefg" })).toHaveLength(1);
    expect(compareCompleted(ref, { ...completed, finalTokens: 7 })).toEqual(["7 tokens, the reference 8"]);
    expect(compareCompleted(ref, { ...completed, finishReason: "stop" })).toEqual(["finish reason stop, the reference length"]);
  });
});

describe("deliveredRange", () => {
  const cut = (text: string, deltas: number, extra: Partial<Observed> = {}): Observed => ({
    outcome: "disconnected",
    text,
    deltas,
    generationId: "g",
    ...extra,
  });
  test("maps a cut stream's deltas to the tokens they carried", () => {
    expect(deliveredRange(ref, cut("", 0))).toEqual({ lo: 0, hi: 0 });
    expect(deliveredRange(ref, cut("abcd", 3))).toEqual({ lo: 4, hi: 4 });
    expect(deliveredRange(ref, cut("ab", 2, { tokensReceived: 2 }))).toEqual({ lo: 2, hi: 2 });
  });
  test("without a per-delta count, bounds it from both ends", () => {
    expect(deliveredRange({ ...ref, tokensAt: undefined }, cut("abcd", 3))).toEqual({ lo: 3, hi: 5 });
  });
  test("text that is not the reference's prefix, or deltas cut differently, is a problem", () => {
    expect(deliveredRange(ref, cut("abX", 3))).toEqual({ problem: expect.stringContaining("not a prefix") });
    expect(deliveredRange(ref, cut("abc", 2))).toEqual({ problem: expect.stringContaining("2 deltas hold 3 characters") });
  });
});

describe("compareBilling", () => {
  test("a completed stream is billed exactly what it received, record and usage row alike", () => {
    expect(compareBilling(ref, completed, done)).toEqual([]);
    expect(compareBilling(ref, completed, { ...done, usageTokens: 9, recordTokens: 9 })).toEqual([
      expect.stringContaining("billed 9 tokens for a completed stream that received 8"),
    ]);
    expect(compareBilling(ref, completed, { ...done, usageTokens: 7 })).toEqual(
      expect.arrayContaining([expect.stringContaining("usage row 7 tokens, record 8")]),
    );
    expect(compareBilling(ref, completed, { ...done, usageTokens: undefined })).toContain("no usage row");
    expect(compareBilling(ref, completed, undefined)).toEqual(["no record"]);
    expect(compareBilling(ref, completed, { ...done, status: "FAILED" })).toEqual(["record FAILED, not DONE"]);
  });

  const long: Reference = {
    text: "x".repeat(64),
    tokens: 64,
    finishReason: "length",
    deltaEnds: Array.from({ length: 64 }, (_, i) => i + 1),
    tokensAt: Array.from({ length: 64 }, (_, i) => i + 1),
  };
  const cut: Observed = { outcome: "disconnected", text: "x".repeat(10), deltas: 10, generationId: "g" };
  const cancelled = (tokens: number): Billed => ({ status: "CANCELLED", finishReason: "cancelled", recordTokens: tokens, usageTokens: tokens });
  test("a cut stream is billed within [received, received + 32]", () => {
    expect(compareBilling(long, cut, cancelled(10))).toEqual([]);
    expect(compareBilling(long, cut, cancelled(42))).toEqual([]);
    expect(compareBilling(long, cut, cancelled(9))).toEqual([expect.stringContaining("billed 9 tokens for a cut stream that received 10")]);
    expect(compareBilling(long, cut, cancelled(43))).toEqual([expect.stringContaining("billed 43 tokens")]);
    expect(compareBilling(long, cut, { ...cancelled(12), status: "DONE", finishReason: "length" })).toEqual([expect.stringContaining("not CANCELLED")]);
  });
  test("a disconnected stream whose generation had already finished is billed all of it", () => {
    expect(
      compareBilling(long, { ...cut, text: "x".repeat(63), deltas: 63 }, { status: "DONE", finishReason: "length", recordTokens: 64, usageTokens: 64 }),
    ).toEqual([]);
  });
  test("a cancelled stream is billed what its last event said", () => {
    expect(compareBilling(long, { ...cut, outcome: "cancelled", finalTokens: 10 }, cancelled(10))).toEqual([]);
    expect(compareBilling(long, { ...cut, outcome: "cancelled", finalTokens: 10 }, cancelled(11))).toEqual([expect.stringContaining("last event said 10")]);
  });
});

describe("memory trend", () => {
  test("slope is least squares", () => {
    expect(
      slope([
        { x: 0, y: 1 },
        { x: 1, y: 3 },
        { x: 2, y: 5 },
      ]),
    ).toBeCloseTo(2);
    expect(
      slope([
        { x: 0, y: 0 },
        { x: 1, y: 2 },
        { x: 2, y: 0 },
        { x: 3, y: 2 },
      ]),
    ).toBeCloseTo(0.4);
    expect(slope([{ x: 1, y: 1 }])).toBe(0);
  });
  test("rssTrend leaves the warm-up out and reports MiB per minute", () => {
    // 100 MiB in the first 60 s (warm-up), then 1 MiB per minute.
    const samples = [{ t: 0, rssMiB: 0 }, { t: 30, rssMiB: 50 }, ...Array.from({ length: 10 }, (_, i) => ({ t: 60 + i * 30, rssMiB: 100 + i * 0.5 }))];
    const r = rssTrend(samples, 60);
    expect(r).toMatchObject({ slopeMiBPerMin: 1, secondHalfSlopeMiBPerMin: 1, samples: 10, startMiB: 100, endMiB: 104.5, maxMiB: 104.5 });
    expect(rssTrend(samples, 0).slopeMiBPerMin).toBeGreaterThan(10);
  });
});
