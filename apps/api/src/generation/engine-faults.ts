// Tests only: an EnginePort that forwards every call to another port and fails on request,
// so fault tests can show that a failure stays with the requests it hits. Nothing in the
// server constructs it: a test wraps the fake engine, or a native engine it opened itself,
// in it and passes the plan. Faults pick their target by what a request can choose from
// outside, its sampling seed, so an end-to-end test aims at one request through the API.
import type { EnginePort, PortStepItem, PortStepResult, SamplingParams, StreamDecoder } from "./engine-port.js";

export interface FaultPlan {
  /**
   * The next `count` steps reject as a whole (as a failed allocation makes the engine do):
   * steps holding a sequence created with `seed`, or any step when `seed` is left out.
   */
  failSteps?: { count: number; seed?: number; code?: string };
  /** createSequence rejects `count` times (default 1) for `seed` (any seed when left out). */
  failCreateSequence?: { seed?: number; count?: number; code?: string };
  /** loadAdapter rejects `count` times (default 1) for a folder whose path contains `dir`. */
  failAdapterLoad?: { dir: string; count?: number; code?: string };
  /**
   * The sequence created with `seed` gets NaN logits (the engine fails it with NON_FINITE).
   * It runs as a step of its own, so its batch mates' logits stay clean.
   */
  nanLogits?: { seed: number };
  /** reset() rejects this many times. */
  failReset?: { count: number };
  /** Every step takes at least `ms` longer (a slow engine: keeps requests running, or queued, for a test). */
  slowSteps?: { ms: number };
}

export interface FaultCounters {
  steps: number;
  failedSteps: number;
  /** The seeds of the sequences in the steps it failed. */
  failedSeeds: number[];
  createSequence: number;
  failedCreateSequence: number;
  loadAdapter: number;
  failedAdapterLoad: number;
  resets: number;
  /** The sampling seed of every createSequence call that reached the engine, in order. */
  seeds: number[];
}

/** What the wrapped engine offers for NaN logits (the native test hook, or the fake's). */
export type PoisonLogits = (on: boolean) => Promise<void>;

function injected(code: string, what: string): Error {
  return Object.assign(new Error(`injected fault: ${what}`), { code });
}

export class FaultInjectingPort implements EnginePort {
  plan: FaultPlan;
  readonly counters: FaultCounters = {
    steps: 0,
    failedSteps: 0,
    failedSeeds: [],
    createSequence: 0,
    failedCreateSequence: 0,
    loadAdapter: 0,
    failedAdapterLoad: 0,
    resets: 0,
    seeds: [],
  };
  /** Sequence id -> the seed it was created with (this engine's). */
  private readonly seedOf = new Map<number, number>();

  constructor(
    private readonly inner: EnginePort,
    plan: FaultPlan = {},
    private readonly poisonLogits?: PoisonLogits,
  ) {
    this.plan = plan;
  }

  get maxContext(): number {
    return this.inner.maxContext;
  }
  get bosTokenId(): number {
    return this.inner.bosTokenId;
  }
  get eosTokenIds(): readonly number[] {
    return this.inner.eosTokenIds;
  }
  get adapterSlots(): number {
    return this.inner.adapterSlots;
  }

  encode(text: string): number[] {
    return this.inner.encode(text);
  }

  streamDecoder(): StreamDecoder {
    return this.inner.streamDecoder();
  }

  async loadAdapter(dir: string): Promise<number> {
    this.counters.loadAdapter++;
    const f = this.plan.failAdapterLoad;
    if (f && dir.includes(f.dir) && (f.count ?? 1) > 0) {
      f.count = (f.count ?? 1) - 1;
      this.counters.failedAdapterLoad++;
      throw injected(f.code ?? "OUT_OF_MEMORY", `loading the adapter at ${dir}`);
    }
    return this.inner.loadAdapter(dir);
  }

  unloadAdapter(id: number): Promise<void> {
    return this.inner.unloadAdapter(id);
  }

  async createSequence(s: SamplingParams): Promise<number> {
    this.counters.createSequence++;
    this.counters.seeds.push(s.seed);
    const f = this.plan.failCreateSequence;
    if (f && (f.seed === undefined || f.seed === s.seed) && (f.count ?? 1) > 0) {
      f.count = (f.count ?? 1) - 1;
      this.counters.failedCreateSequence++;
      throw injected(f.code ?? "OUT_OF_MEMORY", `creating a sequence (seed ${s.seed})`);
    }
    const id = await this.inner.createSequence(s);
    this.seedOf.set(id, s.seed);
    return id;
  }

  async freeSequence(id: number): Promise<void> {
    this.seedOf.delete(id);
    return this.inner.freeSequence(id);
  }

  cancelSequence(id: number): void {
    this.inner.cancelSequence(id);
  }

  async step(items: PortStepItem[]): Promise<PortStepResult[]> {
    this.counters.steps++;
    if (this.plan.slowSteps) await new Promise((r) => setTimeout(r, this.plan.slowSteps!.ms));
    const f = this.plan.failSteps;
    if (f && f.count > 0 && (f.seed === undefined || items.some((it) => this.seedOf.get(it.sequence) === f.seed))) {
      f.count--;
      this.counters.failedSteps++;
      for (const it of items) this.counters.failedSeeds.push(this.seedOf.get(it.sequence) ?? -1);
      throw injected(f.code ?? "OUT_OF_MEMORY", `a step of ${items.length} items`);
    }
    const nan = this.plan.nanLogits;
    const poisoned = nan ? items.findIndex((it) => this.seedOf.get(it.sequence) === nan.seed) : -1;
    if (poisoned < 0) return this.inner.step(items);
    if (!this.poisonLogits) throw new Error("nanLogits needs an engine that can poison its logits");
    // The target alone, with poisoned logits; its mates as a step of their own (an item's
    // result does not depend on its batch mates).
    const others = items.filter((_, i) => i !== poisoned);
    const rest = others.length ? await this.inner.step(others) : [];
    await this.poisonLogits(true);
    let target: PortStepResult[];
    try {
      target = await this.inner.step([items[poisoned]!]);
    } finally {
      await this.poisonLogits(false);
    }
    return items.map((_, i) => (i === poisoned ? target[0]! : rest[i < poisoned ? i : i - 1]!));
  }

  async reset(): Promise<void> {
    this.counters.resets++;
    const f = this.plan.failReset;
    if (f && f.count > 0) {
      f.count--;
      throw injected("OUT_OF_MEMORY", "re-creating the engine");
    }
    this.seedOf.clear();
    await this.inner.reset();
  }
}
