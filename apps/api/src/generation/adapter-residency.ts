// Adapter residency in the engine: adapter versions are loaded when a request needs them and
// unloaded (least recently used first) when not in use and the set is over its budget.
// States per version: LOADING -> RESIDENT -> EVICTED (or ERRORED, reported to the request).
import type { EnginePort } from "./engine-port.js";

export interface AdapterRef {
  /** The adapter version id: new weights are a new key, so requests in flight keep theirs. */
  key: string;
  dir: string;
}

interface Resident {
  id: number;
  refs: number;
  lastUsed: number;
}

export interface ResidencyStats {
  hits: number;
  misses: number;
  evictions: number;
  resident: number;
}

export class AdapterResidency {
  private readonly resident = new Map<string, Resident>();
  private readonly loading = new Map<string, Promise<number>>();
  private clock = 0;
  readonly stats: ResidencyStats = { hits: 0, misses: 0, evictions: 0, resident: 0 };

  /** `budget`: most versions kept loaded (those in use always stay). */
  constructor(
    private readonly port: EnginePort,
    private readonly budget: number,
  ) {}

  /** Versions in use by running requests. */
  inUse(): number {
    let n = 0;
    for (const r of this.resident.values()) if (r.refs > 0) n++;
    return n;
  }

  /** Whether these versions can be used now without exceeding the per-step slot limit. */
  fits(refs: readonly AdapterRef[], slots: number): boolean {
    const extra = refs.filter((r) => (this.resident.get(r.key)?.refs ?? 0) === 0).length;
    return this.inUse() + extra <= slots;
  }

  /** Loads (or reuses) the versions and counts a use of each; resolves to engine ids. */
  async acquire(refs: readonly AdapterRef[]): Promise<number[]> {
    const ids: number[] = [];
    const taken: AdapterRef[] = [];
    try {
      for (const r of refs) {
        ids.push(await this.acquireOne(r));
        taken.push(r);
      }
      return ids;
    } catch (err) {
      this.release(taken);
      throw err;
    }
  }

  private async acquireOne(r: AdapterRef): Promise<number> {
    const have = this.resident.get(r.key);
    if (have) {
      this.stats.hits++;
      have.refs++;
      have.lastUsed = ++this.clock;
      return have.id;
    }
    let pending = this.loading.get(r.key);
    if (!pending) {
      this.stats.misses++;
      pending = this.port.loadAdapter(r.dir);
      this.loading.set(r.key, pending);
      void pending.finally(() => this.loading.delete(r.key)).catch(() => undefined);
    } else {
      this.stats.hits++;
    }
    const id = await pending;
    const now = this.resident.get(r.key);
    if (now) {
      now.refs++;
      now.lastUsed = ++this.clock;
      return now.id;
    }
    this.resident.set(r.key, { id, refs: 1, lastUsed: ++this.clock });
    this.stats.resident = this.resident.size;
    await this.evictOverBudget();
    return id;
  }

  release(refs: readonly AdapterRef[]): void {
    for (const r of refs) {
      const have = this.resident.get(r.key);
      if (have && have.refs > 0) have.refs--;
    }
    void this.evictOverBudget();
  }

  private async evictOverBudget(): Promise<void> {
    while (this.resident.size > this.budget) {
      let victim: [string, Resident] | undefined;
      for (const e of this.resident) if (e[1].refs === 0 && (!victim || e[1].lastUsed < victim[1].lastUsed)) victim = e;
      if (!victim) return;
      this.resident.delete(victim[0]);
      this.stats.evictions++;
      this.stats.resident = this.resident.size;
      await this.port.unloadAdapter(victim[1].id).catch(() => undefined);
    }
  }
}
