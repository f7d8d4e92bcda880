// The checks of `quiver bench soak`, kept apart from the load so that they can be tested with
// wrong inputs: a stream against its reference (the same request run alone, greedy), what a
// stream's client received against what was billed for it (docs/api.md, Faults and
// durability: delivered <= billed <= delivered + 32 while a generation runs, exact at its
// end), and the memory trend (least squares).

/** Billing runs at most this many tokens ahead of delivery (usage-meter.ts). */
export const BILLING_LEAD = 32;

/** A request run alone at the start: what every later run of it must deliver. */
export interface Reference {
  text: string;
  /** Tokens generated (the last event's usage). */
  tokens: number;
  finishReason: string;
  /** The text's length after each delta the client received. */
  deltaEnds: number[];
  /**
   * Tokens delivered after each delta, where the API says (OpenAI's continuous usage), or
   * where each delta carried one token (as many deltas as tokens); otherwise undefined.
   */
  tokensAt: number[] | undefined;
}

export type Outcome = "completed" | "cancelled" | "disconnected" | "error";

/** What one stream's client saw. */
export interface Observed {
  outcome: Outcome;
  text: string;
  /** Deltas received. */
  deltas: number;
  /** Tokens the server said it had delivered with the last delta (OpenAI's continuous usage), if it says. */
  tokensReceived?: number;
  /** The last event's token count (completed and cancelled streams). */
  finalTokens?: number;
  finishReason?: string;
  generationId?: string;
  error?: string;
}

/** What the database holds for a generation after the run. */
export interface Billed {
  status: string;
  finishReason: string | null;
  /** The record's tokensOut. */
  recordTokens: number;
  /** Its usage row's tokensOut (undefined: no row). */
  usageTokens: number | undefined;
}

/** Why a completed stream differs from its reference (empty: exact). */
export function compareCompleted(ref: Reference, got: Observed): string[] {
  const problems: string[] = [];
  if (got.text !== ref.text) {
    let at = 0;
    while (at < got.text.length && got.text[at] === ref.text[at]) at++;
    problems.push(
      `text differs from the reference at character ${at} (${JSON.stringify(got.text.slice(at, at + 12))} vs ${JSON.stringify(ref.text.slice(at, at + 12))})`,
    );
  }
  if (got.finalTokens !== ref.tokens) problems.push(`${got.finalTokens} tokens, the reference ${ref.tokens}`);
  if (got.finishReason !== ref.finishReason) problems.push(`finish reason ${got.finishReason}, the reference ${ref.finishReason}`);
  return problems;
}

/**
 * The tokens a cut stream's client received, as [lo, hi] (equal when known exactly), or a
 * problem: text that is not the reference's, or that ends inside one of its deltas.
 */
export function deliveredRange(ref: Reference, got: Observed): { lo: number; hi: number } | { problem: string } {
  if (!ref.text.startsWith(got.text)) return { problem: `a cut stream's text is not a prefix of the reference's (${JSON.stringify(got.text.slice(0, 24))})` };
  if (got.tokensReceived !== undefined) return { lo: got.tokensReceived, hi: got.tokensReceived };
  if (got.deltas === 0) return { lo: 0, hi: 0 };
  const i = got.deltas - 1;
  if (ref.deltaEnds[i] !== got.text.length)
    return { problem: `a cut stream's ${got.deltas} deltas hold ${got.text.length} characters, the reference's first ${got.deltas} hold ${ref.deltaEnds[i]}` };
  if (ref.tokensAt) return { lo: ref.tokensAt[i]!, hi: ref.tokensAt[i]! };
  // Each delta carried at least one token: bounds from both ends.
  return { lo: got.deltas, hi: ref.tokens - (ref.deltaEnds.length - got.deltas) };
}

/** Why what was billed for a stream breaks the contract (empty: it holds). */
export function compareBilling(ref: Reference, got: Observed, billed: Billed | undefined): string[] {
  if (!billed) return ["no record"];
  const problems: string[] = [];
  if (billed.usageTokens === undefined) problems.push("no usage row");
  else if (billed.usageTokens !== billed.recordTokens) problems.push(`usage row ${billed.usageTokens} tokens, record ${billed.recordTokens}`);
  const tokens = billed.usageTokens ?? billed.recordTokens;
  if (got.outcome === "completed") {
    if (tokens !== got.finalTokens) problems.push(`billed ${tokens} tokens for a completed stream that received ${got.finalTokens}`);
    if (billed.status !== "DONE") problems.push(`record ${billed.status}, not DONE`);
    return problems;
  }
  if (got.outcome === "cancelled" && tokens !== got.finalTokens)
    problems.push(`billed ${tokens} tokens, the cancelled stream's last event said ${got.finalTokens}`);
  const range = deliveredRange(ref, got);
  if ("problem" in range) return [...problems, range.problem];
  if (tokens < range.hi || tokens > range.lo + BILLING_LEAD)
    problems.push(
      `billed ${tokens} tokens for a cut stream that received ${range.lo === range.hi ? range.lo : `${range.lo}-${range.hi}`} (allowed: received to received + ${BILLING_LEAD})`,
    );
  // A client that left just before the end may find its generation already done.
  const raced = got.outcome === "disconnected" && billed.status === "DONE" && tokens === ref.tokens;
  if (!raced && (billed.status !== "CANCELLED" || billed.finishReason !== "cancelled"))
    problems.push(`record ${billed.status} / ${billed.finishReason}, not CANCELLED / cancelled`);
  return problems;
}

/** Least-squares slope of y over x (0 with fewer than 2 distinct x). */
export function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0,
    sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

export interface RssSample {
  /** Seconds since the load began. */
  t: number;
  rssMiB: number;
}

/** The memory trend after the warm-up: MiB per minute over the samples at or after `warmupS`, and over their second half. */
export function rssTrend(
  samples: readonly RssSample[],
  warmupS: number,
): { slopeMiBPerMin: number; secondHalfSlopeMiBPerMin: number; samples: number; startMiB: number; endMiB: number; maxMiB: number } {
  const after = samples.filter((s) => s.t >= warmupS);
  const perMin = (xs: readonly RssSample[]) => Math.round(slope(xs.map((s) => ({ x: s.t / 60, y: s.rssMiB }))) * 100) / 100;
  return {
    slopeMiBPerMin: perMin(after),
    secondHalfSlopeMiBPerMin: perMin(after.slice(Math.floor(after.length / 2))),
    samples: after.length,
    startMiB: after[0]?.rssMiB ?? 0,
    endMiB: after.at(-1)?.rssMiB ?? 0,
    maxMiB: Math.max(0, ...samples.map((s) => s.rssMiB)),
  };
}
