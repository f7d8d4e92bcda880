// The heatmap's colour scale: light grey at the low end of the domain to deep blue at 1,
// through a middle blue, interpolated in RGB. Values outside the domain are clamped.
const stops: [number, [number, number, number]][] = [
  [0, [241, 243, 245]],
  [0.5, [145, 167, 255]],
  [1, [30, 42, 120]],
];

export function colorOf(value: number, min: number, max: number): string {
  const t = max > min ? Math.min(1, Math.max(0, (value - min) / (max - min))) : 1;
  let i = 0;
  while (i < stops.length - 2 && t > stops[i + 1]![0]) i++;
  const [t0, c0] = stops[i]!;
  const [t1, c1] = stops[i + 1]!;
  const f = (t - t0) / (t1 - t0);
  const c = c0.map((v, j) => Math.round(v + (c1[j]! - v) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The lowest similarity off the diagonal (the scale's low end), at most 0.9 so that a tight pool still shows contrast. */
export function lowEnd(similarity: number[][]): number {
  let min = 1;
  similarity.forEach((row, i) => row.forEach((v, j) => i !== j && v < min && (min = v)));
  return Math.min(0.9, Math.floor(min * 10) / 10);
}

/** Text on a cell of this value stays readable (dark cells get white text). */
export function isDark(value: number, min: number, max: number): boolean {
  const t = max > min ? (value - min) / (max - min) : 1;
  return t > 0.55;
}
