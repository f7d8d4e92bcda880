// Adapter residency in the engine: adapter versions are loaded when a request needs them and
// unloaded (least recently used first) when not in use and the set is over its budget.
// States per version: LOADING -> RESIDENT -> EVICTED (or ERRORED, reported to the requests
// that waited for it). A use is counted from the moment a request asks (acquire), loading or
// not, so that admission can bound the adapters in use before any load finishes; loads run
// beside the scheduler's steps, never inside them.
import type { EnginePort } from "./engine-port.js";

export interface AdapterRef {
  /** The adapter version id: new weights are a new key, so requests in flight keep theirs. */
  key: string;
  dir: string;
}

interface Entry {
  dir: string;
  state: "LOADING" | "RESIDENT";
  /** The engine's id once RESIDENT. */
  id: number;
  /** Settles when the load does (resolves to the id). */
  loaded: Promise<number>;
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
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  readonly stats: ResidencyStats = { hits: 0, misses: 0, evictions: 0, resident: 0 };

  /** `budget`: most versions kept loaded (those in use always stay). */
  constructor(
    private readonly port: EnginePort,
    private readonly budget: number,
  ) {}

  /** Versions in use (or being loaded for use) by requests. */
  inUse(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.refs > 0) n++;
    return n;
  }

  /** Whether these versions can be used now without exceeding the per-step slot limit. */
  fits(refs: readonly AdapterRef[], slots: number): boolean {
    const extra = refs.filter((r) => (this.entries.get(r.key)?.refs ?? 0) === 0).length;
    return this.inUse() + extra <= slots;
  }

  /** Whether every version is loaded (acquire would not wait). */
  ready(refs: readonly AdapterRef[]): boolean {
    return refs.every((r) => this.entries.get(r.key)?.state === "RESIDENT");
  }

  /**
   * Counts a use of each version at once (starting the loads it needs) and resolves to their
   * engine ids when all are loaded, or rejects with a failed load's error. Whatever the
   * outcome, the caller gives the uses back with release(refs), once.
   */
  acquire(refs: readonly AdapterRef[]): Promise<number[]> {
    const entries = refs.map((r) => this.use(r));
    return Promise.all(entries.map((e) => e.loaded));
  }

  private use(r: AdapterRef): Entry {
    let e = this.entries.get(r.key);
    if (e) {
      this.stats.hits++;
    } else {
      this.stats.misses++;
      e = this.load(r.key, r.dir);
    }
    e.refs++;
    e.lastUsed = ++this.clock;
    return e;
  }

  private load(key: string, dir: string): Entry {
    const e: Entry = { dir, state: "LOADING", id: -1, loaded: Promise.resolve(-1), refs: 0, lastUsed: ++this.clock };
    e.loaded = this.port.loadAdapter(dir).then(
      (id) => {
        // An entry forgotten meanwhile (the engine was re-created) loaded into the old engine.
        if (this.entries.get(key) !== e) throw Object.assign(new Error("the engine was re-created while this adapter loaded"), { code: "ENGINE_ERROR" });
        e.state = "RESIDENT";
        e.id = id;
        this.stats.resident = this.residentCount();
        void this.evictOverBudget();
        return id;
      },
      (err: unknown) => {
        if (this.entries.get(key) === e) this.entries.delete(key);
        throw err;
      },
    );
    // Waiters see the outcome through `loaded`; a load nobody waits for any more must not
    // become an unhandled rejection.
    e.loaded.catch(() => undefined);
    this.entries.set(key, e);
    return e;
  }

  release(refs: readonly AdapterRef[]): void {
    for (const r of refs) {
      const e = this.entries.get(r.key);
      if (e && e.refs > 0) e.refs--;
    }
    void this.evictOverBudget();
  }

  private residentCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.state === "RESIDENT") n++;
    return n;
  }

  private async evictOverBudget(): Promise<void> {
    while (this.entries.size > this.budget) {
      let victim: [string, Entry] | undefined;
      for (const x of this.entries) if (x[1].state === "RESIDENT" && x[1].refs === 0 && (!victim || x[1].lastUsed < victim[1].lastUsed)) victim = x;
      if (!victim) return;
      this.entries.delete(victim[0]);
      this.stats.evictions++;
      this.stats.resident = this.residentCount();
      await this.port.unloadAdapter(victim[1].id).catch(() => undefined);
    }
  }

  /**
   * Forgets every version (the engine is being re-created: its ids are gone) and returns
   * those that were resident, most recently used first, for reload() on the new engine.
   * Loads in flight finish on the old engine and are dropped.
   */
  forget(): AdapterRef[] {
    const resident = [...this.entries].filter(([, e]) => e.state === "RESIDENT").sort((a, b) => b[1].lastUsed - a[1].lastUsed);
    this.entries.clear();
    this.stats.resident = 0;
    return resident.map(([key, e]) => ({ key, dir: e.dir }));
  }

  /** Loads versions again (after forget() and the engine's re-creation), within the budget. */
  reload(refs: readonly AdapterRef[]): void {
    for (const r of refs.slice(0, this.budget)) if (!this.entries.has(r.key)) this.load(r.key, r.dir);
  }
}
