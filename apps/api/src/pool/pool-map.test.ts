import { clusterOrder, project2d, similarityMatrix } from "./pool-map.js";

function unit(v: number[]): Float32Array {
  const n = Math.hypot(...v);
  return Float32Array.from(v.map((x) => x / n));
}

test("similarities of unit vectors are their cosines", () => {
  const s = similarityMatrix([unit([1, 0]), unit([0, 1]), unit([1, 1])]);
  expect(s[0]![0]).toBeCloseTo(1);
  expect(s[0]![1]).toBeCloseTo(0);
  expect(s[0]![2]).toBeCloseTo(Math.SQRT1_2);
});

test("clustering puts each group's members next to each other", () => {
  // Three tight groups, interleaved in the input.
  const centres = [
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
  ];
  const vectors: Float32Array[] = [];
  const group: number[] = [];
  for (let i = 0; i < 12; i++) {
    const g = i % 3;
    group.push(g);
    vectors.push(unit(centres[g]!.map((x, k) => x + 0.05 * Math.sin(i * 7 + k))));
  }
  const order = clusterOrder(similarityMatrix(vectors));
  expect([...order].sort((a, b) => a - b)).toEqual(vectors.map((_, i) => i));
  const runs = order.map((i) => group[i]).filter((g, k, arr) => k === 0 || g !== arr[k - 1]);
  expect(runs).toHaveLength(3);
});

test("the projection separates groups along the principal axes", () => {
  const vectors = [unit([1, 0.01, 0]), unit([1, -0.01, 0]), unit([-1, 0, 0.01]), unit([-1, 0, -0.01])];
  const p = project2d(vectors);
  expect(Math.sign(p[0]!.x)).toBe(Math.sign(p[1]!.x));
  expect(Math.sign(p[2]!.x)).toBe(Math.sign(p[3]!.x));
  expect(Math.sign(p[0]!.x)).not.toBe(Math.sign(p[2]!.x));
  expect(Math.abs(p[0]!.x - p[2]!.x)).toBeGreaterThan(1.5);
});
