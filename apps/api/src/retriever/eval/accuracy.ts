// Retrieval accuracy as the paper reports it: the percentage of test inputs whose own task's
// adapter is among the top k retrieved (k = 1, 3, 5), overall, for seen and unseen tasks,
// and per task cluster.

export interface TopK {
  top1: number;
  top3: number;
  top5: number;
}

export interface AccuracyReport {
  overall: TopK;
  seen: TopK;
  unseen: TopK;
  byCluster: Record<string, TopK>;
}

export interface RankedQuery {
  /** The query's own task (the adapter that should come first). */
  task: string;
  cluster: string;
  /** Adapter names, best first (at least 5 when the pool has 5). */
  ranked: readonly string[];
}

class Tally {
  n = 0;
  hits = [0, 0, 0];

  add(rank: number): void {
    this.n++;
    if (rank >= 0 && rank < 1) this.hits[0]!++;
    if (rank >= 0 && rank < 3) this.hits[1]!++;
    if (rank >= 0 && rank < 5) this.hits[2]!++;
  }

  percent(): TopK {
    const p = (h: number) => (this.n === 0 ? 0 : Math.round((10000 * h) / this.n) / 100);
    return { top1: p(this.hits[0]!), top3: p(this.hits[1]!), top5: p(this.hits[2]!) };
  }
}

/** Percentages rounded to 2 decimals; `seenTasks` are the tasks a trained head saw. */
export function accuracyReport(queries: readonly RankedQuery[], seenTasks: ReadonlySet<string>): AccuracyReport {
  const overall = new Tally();
  const seen = new Tally();
  const unseen = new Tally();
  const clusters = new Map<string, Tally>();
  for (const q of queries) {
    const rank = q.ranked.indexOf(q.task);
    overall.add(rank);
    (seenTasks.has(q.task) ? seen : unseen).add(rank);
    let c = clusters.get(q.cluster);
    if (!c) clusters.set(q.cluster, (c = new Tally()));
    c.add(rank);
  }
  const byCluster: Record<string, TopK> = {};
  for (const name of [...clusters.keys()].sort()) byCluster[name] = clusters.get(name)!.percent();
  return { overall: overall.percent(), seen: seen.percent(), unseen: unseen.percent(), byCluster };
}

/** Counts per group, for the readable table. */
export function queryCounts(queries: readonly RankedQuery[], seenTasks: ReadonlySet<string>): Record<string, number> {
  const counts: Record<string, number> = { overall: queries.length, seen: 0, unseen: 0 };
  for (const q of queries) {
    counts[seenTasks.has(q.task) ? "seen" : "unseen"]!++;
    counts[`cluster:${q.cluster}`] = (counts[`cluster:${q.cluster}`] ?? 0) + 1;
  }
  return counts;
}
