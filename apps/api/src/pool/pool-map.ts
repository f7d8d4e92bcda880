// The pool map (the paper's figure 3): cosine similarities between adapter embeddings, an
// order that puts related adapters next to each other (average-linkage agglomerative
// clustering, leaves in dendrogram order), and a 2-D projection (the first two principal
// components, by power iteration with deflation).

/** (n) x (n) cosine similarities of unit vectors. */
export function similarityMatrix(vectors: readonly Float32Array[]): number[][] {
  return vectors.map((a) =>
    vectors.map((b) => {
      let dot = 0;
      for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
      return dot;
    }),
  );
}

/** Leaf order of an average-linkage clustering on distance 1 - similarity. O(n^3); n <= a few hundred. */
export function clusterOrder(sim: number[][]): number[] {
  const n = sim.length;
  if (n <= 2) return Array.from({ length: n }, (_, i) => i);
  let clusters = Array.from({ length: n }, (_, i) => ({ members: [i], order: [i] }));
  // Average similarity between clusters, kept up to date as they merge.
  const avg = sim.map((row) => [...row]);
  let ids = clusters.map((_, i) => i);
  while (clusters.length > 1) {
    let best = -Infinity;
    let bi = 0;
    let bj = 1;
    for (let i = 0; i < clusters.length; i++)
      for (let j = i + 1; j < clusters.length; j++) {
        const s = avg[ids[i]!]![ids[j]!]!;
        if (s > best) [best, bi, bj] = [s, i, j];
      }
    const a = clusters[bi]!;
    const b = clusters[bj]!;
    // Join the two leaf orders at their most similar ends.
    const [a0, a1] = [a.order[0]!, a.order[a.order.length - 1]!];
    const [b0, b1] = [b.order[0]!, b.order[b.order.length - 1]!];
    const options: [number, number[]][] = [
      [sim[a1]![b0]!, [...a.order, ...b.order]],
      [sim[a1]![b1]!, [...a.order, ...[...b.order].reverse()]],
      [sim[a0]![b0]!, [...[...a.order].reverse(), ...b.order]],
      [sim[a0]![b1]!, [...b.order, ...a.order]],
    ];
    const order = options.reduce((x, y) => (y[0] > x[0] ? y : x))[1];
    const merged = { members: [...a.members, ...b.members], order };
    const idA = ids[bi]!;
    const idB = ids[bj]!;
    // Reuse slot idA for the merged cluster.
    for (let k = 0; k < clusters.length; k++) {
      const idK = ids[k]!;
      if (k === bi || k === bj) continue;
      const s = (avg[idA]![idK]! * a.members.length + avg[idB]![idK]! * b.members.length) / merged.members.length;
      avg[idA]![idK] = s;
      avg[idK]![idA] = s;
    }
    clusters = clusters.filter((_, k) => k !== bi && k !== bj);
    ids = ids.filter((_, k) => k !== bi && k !== bj);
    clusters.push(merged);
    ids.push(idA);
  }
  return clusters[0]!.order;
}

/** (n) x 2: the vectors projected on their first two principal components. */
export function project2d(vectors: readonly Float32Array[], iterations = 100): { x: number; y: number }[] {
  const n = vectors.length;
  if (n === 0) return [];
  const d = vectors[0]!.length;
  const mean = new Float64Array(d);
  for (const v of vectors) for (let i = 0; i < d; i++) mean[i]! += v[i]! / n;
  const centered = vectors.map((v) => Float64Array.from(v, (x, i) => x - mean[i]!));
  const components: Float64Array[] = [];
  for (let c = 0; c < 2; c++) {
    // Power iteration on the covariance, applied as X^T (X w), deflated by earlier components.
    let w = Float64Array.from({ length: d }, (_, i) => Math.sin(i + 1 + c));
    for (let it = 0; it < iterations; it++) {
      const next = new Float64Array(d);
      for (const row of centered) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += row[i]! * w[i]!;
        for (let i = 0; i < d; i++) next[i]! += dot * row[i]!;
      }
      for (const prev of components) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += next[i]! * prev[i]!;
        for (let i = 0; i < d; i++) next[i]! -= dot * prev[i]!;
      }
      const norm = Math.hypot(...next) || 1;
      w = next.map((x) => x / norm);
    }
    components.push(w);
  }
  return centered.map((row) => {
    const [x, y] = components.map((w) => row.reduce((acc, v, i) => acc + v * w[i]!, 0));
    return { x: x!, y: y! };
  });
}
