// The rules for an adapter's sample inputs, checked in the browser as the user types so that
// problems show on the row they are about. The API checks the same rules again (its codes:
// TOO_FEW_SAMPLES, TOO_MANY_SAMPLES, EMPTY_INPUT, DUPLICATE_SAMPLES, SAMPLE_TOO_LONG).

export const MIN_SAMPLES = 10;
export const MAX_SAMPLES = 20;
export const MAX_SAMPLE_CHARS = 4000;

export interface SampleProblems {
  /** Problems of single rows, by row index (too long, a repeat of an earlier row). */
  rows: Map<number, string>;
  /** A problem of the list as a whole (how many), or null. Empty rows are not sent. */
  count: string | null;
  /** The filled rows, trimmed: what would be sent. */
  filled: string[];
}

export function sampleProblems(rows: readonly string[]): SampleProblems {
  const problems = new Map<number, string>();
  const firstSeen = new Map<string, number>();
  rows.forEach((raw, i) => {
    const text = raw.trim();
    if (!text) return;
    if (text.length > MAX_SAMPLE_CHARS) problems.set(i, `Longer than ${MAX_SAMPLE_CHARS.toLocaleString("en")} characters.`);
    const first = firstSeen.get(text);
    if (first !== undefined) problems.set(i, `Same text as sample ${first + 1}: samples must be distinct.`);
    else firstSeen.set(text, i);
  });
  const filled = rows.map((r) => r.trim()).filter(Boolean);
  let count: string | null = null;
  if (filled.length < MIN_SAMPLES) count = `Add ${MIN_SAMPLES - filled.length} more: an adapter needs at least ${MIN_SAMPLES} samples.`;
  else if (filled.length > MAX_SAMPLES) count = `Remove ${filled.length - MAX_SAMPLES}: an adapter takes at most ${MAX_SAMPLES} samples.`;
  return { rows: problems, count, filled };
}

export function samplesValid(p: SampleProblems): boolean {
  return p.count === null && p.rows.size === 0;
}

/** One sample per line of pasted text (blank lines dropped). */
export function splitLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
}
