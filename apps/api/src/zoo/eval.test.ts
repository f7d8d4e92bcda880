import { aggregate, columnCompositions, compositionKey, COLUMNS, exactMatch, rankAdapters, retrievalHits, type Column, type ItemOutcome, type PoolEntry } from "./eval.js";
import { planBatches } from "./batch-generate.js";

const unit = (...x: number[]) => {
  const n = Math.hypot(...x);
  return Float32Array.from(x.map((v) => v / n));
};

const POOL: PoolEntry[] = [
  { task: "a", vector: unit(1, 0, 0) },
  { task: "b", vector: unit(1, 1, 0) },
  { task: "c", vector: unit(0, 1, 0) },
  { task: "d", vector: unit(0, 0, 1) },
];

describe("ranking", () => {
  test("cosine top-k, best first; the excluded task never appears", () => {
    const q = unit(1, 0.2, 0);
    expect(rankAdapters(q, POOL, 3).map((r) => r.task)).toEqual(["a", "b", "c"]);
    expect(rankAdapters(q, POOL, 3, "a").map((r) => r.task)).toEqual(["b", "c", "d"]);
    expect(rankAdapters(q, POOL, 1)[0]!.score).toBeCloseTo(1 / Math.hypot(1, 0.2), 6);
    for (const own of ["a", "b", "c", "d"]) expect(rankAdapters(q, POOL, 10, own).map((r) => r.task)).not.toContain(own);
    expect(rankAdapters(q, POOL, 10, "a")).toHaveLength(3);
  });
  test("equal scores are ordered by task name", () => {
    const pool = [{ task: "z", vector: unit(1, 0) }, { task: "m", vector: unit(1, 0) }];
    expect(rankAdapters(unit(1, 0), pool, 2).map((r) => r.task)).toEqual(["m", "z"]);
  });
});

describe("compositions", () => {
  const iid = [{ task: "a", score: 0.9 }, { task: "b", score: 0.5 }, { task: "c", score: 0.1 }];
  const ood = [{ task: "b", score: 0.5 }, { task: "c", score: 0.1 }, { task: "d", score: 0 }];
  const comps = columnCompositions("a", iid, ood);

  test("perfect is selection of the own adapter; with the own adapter on top, selectionIid is the same run", () => {
    expect(comps.perfect).toEqual({ strategy: "selection", adapters: [{ task: "a", weight: 1 }] });
    expect(compositionKey(comps.selectionIid)).toBe(compositionKey(comps.perfect));
    expect(comps.selectionOod).toEqual({ strategy: "selection", adapters: [{ task: "b", weight: 1 }] });
    expect(compositionKey(columnCompositions("b", iid, ood).perfect)).not.toBe(compositionKey(comps.selectionIid));
  });
  test("top-k columns: uniform weights summing to 1, the engine strategy of each column", () => {
    expect(comps.base).toEqual({ strategy: "none", adapters: [] });
    const strategies: Partial<Record<Column, string>> = { mixtureIid: "mixture", fusionIid: "fusion", concatIid: "fusion-cat", mixtureOod: "mixture", fusionOod: "fusion", concatOod: "fusion-cat" };
    for (const [c, s] of Object.entries(strategies) as [Column, string][]) {
      expect(comps[c].strategy).toBe(s);
      expect(comps[c].adapters.map((a) => a.weight)).toEqual([1 / 3, 1 / 3, 1 / 3]);
    }
    expect(comps.mixtureOod.adapters.map((a) => a.task)).toEqual(["b", "c", "d"]);
    expect(COLUMNS.filter((c) => c.endsWith("Ood")).every((c) => !comps[c].adapters.some((a) => a.task === "a"))).toBe(true);
  });
  test("nothing retrieved (a pool of one) is the base model, as on the server", () => {
    const alone = columnCompositions("a", [{ task: "a", score: 1 }], []);
    expect(alone.mixtureOod).toEqual({ strategy: "none", adapters: [] });
    expect(compositionKey(alone.selectionOod)).toBe(compositionKey(alone.base));
  });
  test("keys tell strategies and weights apart", () => {
    expect(compositionKey(comps.mixtureIid)).not.toBe(compositionKey(comps.concatIid));
    expect(compositionKey({ strategy: "mixture", adapters: [{ task: "a", weight: 0.5 }, { task: "b", weight: 0.5 }] })).not.toBe(
      compositionKey({ strategy: "mixture", adapters: [{ task: "a", weight: 0.6 }, { task: "b", weight: 0.4 }] }),
    );
  });
});

describe("scoring", () => {
  test("exact match after trimming surrounding whitespace", () => {
    expect(exactMatch(" 42\n", "42")).toBe(true);
    expect(exactMatch("42", " 42 ")).toBe(true);
    expect(exactMatch("42.", "42")).toBe(false);
    expect(exactMatch("4 2", "42")).toBe(false);
    expect(exactMatch("Yes", "yes")).toBe(false);
    expect(exactMatch("", "x")).toBe(false);
  });

  const item = (task: string, cluster: string, right: Column[], iidTop: string[] = [task], oodTop: string[] = []): ItemOutcome => ({
    task,
    cluster,
    input: "",
    answer: "",
    iid: iidTop.map((t) => ({ task: t, score: 1 })),
    ood: oodTop.map((t) => ({ task: t, score: 1 })),
    compositions: {} as ItemOutcome["compositions"],
    outputs: {} as ItemOutcome["outputs"],
    correct: Object.fromEntries(COLUMNS.map((c) => [c, right.includes(c)])) as Record<Column, boolean>,
  });

  test("task means, cluster = mean of task means, average = mean of cluster means", () => {
    const items = [
      item("a", "x", ["base", "perfect"]),
      item("a", "x", ["perfect"]),
      item("b", "x", ["base", "perfect"]),
      item("c", "y", []),
      item("c", "y", []),
      item("c", "y", []),
      item("c", "y", ["base", "mixtureOod"]),
    ];
    const r = aggregate(items, ["x", "y", "empty"]);
    expect(r.byTask.a).toMatchObject({ cluster: "x", items: 2, base: 50, perfect: 100 });
    expect(r.byTask.b).toMatchObject({ items: 1, base: 100 });
    expect(r.byTask.c).toMatchObject({ items: 4, base: 25, mixtureOod: 25, perfect: 0 });
    // x: mean of 50 and 100 (not the item mean 66.7); y: 25.
    expect(r.byCluster.x!.base).toBe(75);
    expect(r.byCluster.y!.base).toBe(25);
    expect(Object.keys(r.byCluster)).toEqual(["x", "y"]);
    expect(r.average.base).toBe(50);
    expect(r.average.perfect).toBe(50);
    expect(r.average.mixtureOod).toBe(12.5);
    expect(r.average.concatIid).toBe(0);
  });

  test("retrieval hit rates by task and cluster", () => {
    const clusterOf = new Map([["a", "x"], ["b", "x"], ["c", "y"]]);
    const h = retrievalHits([item("a", "x", [], ["a", "b"], ["b", "c"]), item("b", "x", [], ["c", "b"], ["c", "a"])], clusterOf);
    expect(h.iid).toEqual({ top1Task: 50, top1Cluster: 50, topkTask: 100, topkCluster: 100 });
    expect(h.ood).toEqual({ top1Task: 0, top1Cluster: 50, topkTask: 0, topkCluster: 100 });
  });
});

describe("batch planning", () => {
  const job = (...ids: number[]) => ({ adapters: ids.map((adapter) => ({ adapter })) });

  test("every job once; no batch over the size or the adapter slots", () => {
    const jobs = [job(), job(1, 2, 3), job(4, 5, 6), job(1), job(2, 3), job(7, 8, 9), job(1, 2, 3), job(), job(5)];
    for (const [maxBatch, slots] of [[1, 3], [2, 3], [4, 4], [3, 9], [100, 5]] as const) {
      const batches = planBatches(jobs, maxBatch, slots);
      expect(batches.flat().sort((a, b) => a - b)).toEqual(jobs.map((_, i) => i));
      for (const b of batches) {
        expect(b.length).toBeLessThanOrEqual(maxBatch);
        expect(new Set(b.flatMap((i) => jobs[i]!.adapters.map((a) => a.adapter))).size).toBeLessThanOrEqual(slots);
      }
    }
    // Jobs with the same adapters share a batch when they fit.
    expect(planBatches(jobs, 100, 3).some((b) => b.includes(1) && b.includes(6))).toBe(true);
  });
  test("a job needing more adapters than slots is refused", () => {
    expect(() => planBatches([job(1, 2, 3)], 4, 2)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});
