// Latency summaries: nearest-rank percentiles of per-call timings, in milliseconds.

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface LatencyReport {
  encodeP50Ms: number;
  encodeP99Ms: number;
  searchP50Ms: number;
  searchP99Ms: number;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function latencyReport(encodeMs: readonly number[], searchMs: readonly number[]): LatencyReport {
  return {
    encodeP50Ms: round3(percentile(encodeMs, 50)),
    encodeP99Ms: round3(percentile(encodeMs, 99)),
    searchP50Ms: round3(percentile(searchMs, 50)),
    searchP99Ms: round3(percentile(searchMs, 99)),
  };
}
