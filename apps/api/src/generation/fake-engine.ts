// A deterministic stand-in for the native engine, for the scheduler's unit tests: each
// sequence's next token is a function of its seed, its length and its adapters, so outputs
// are checkable and independent of batch mates. Tokens are single characters ("a" + id).
// Like the native engine, reset() forgets every sequence and adapter and numbers them from 0
// again, and poisoned logits fail a sampling item with NON_FINITE.
import type { EnginePort, PortStepItem, PortStepResult, SamplingParams, StreamDecoder } from "./engine-port.js";

export class FakeEngine implements EnginePort {
  readonly bosTokenId = 1;
  readonly eosTokenIds = [2];
  readonly steps: PortStepItem[][] = [];
  readonly loaded = new Map<number, string>();
  /** Sampling of every createSequence call, in order (what reached the engine). */
  readonly created: SamplingParams[] = [];
  private nextAdapter = 0;
  private nextSeq = 0;
  private readonly seqs = new Map<number, { len: number; seed: number; cancelled: boolean }>();
  /** Milliseconds each step takes. */
  stepDelayMs = 0;
  /** Milliseconds each adapter load takes (it runs beside steps, as the native loader does). */
  loadDelayMs = 0;
  /** Sequences end (eos) once this many tokens were generated; Infinity = never. */
  eosAfter = Infinity;
  /** Times reset() was called. */
  resets = 0;
  private poisoned = false;

  constructor(
    readonly maxContext = 64,
    readonly adapterSlots = 4,
  ) {}

  get liveSequences(): number {
    return this.seqs.size;
  }

  encode(text: string): number[] {
    return [...text].map((c) => c.charCodeAt(0));
  }

  streamDecoder(): StreamDecoder {
    return { push: (id) => String.fromCharCode(id), flush: () => "" };
  }

  async loadAdapter(dir: string): Promise<number> {
    if (this.loadDelayMs) await new Promise((r) => setTimeout(r, this.loadDelayMs));
    if (dir.includes("broken")) throw Object.assign(new Error("corrupt adapter"), { code: "FILE_CORRUPT" });
    const id = this.nextAdapter++;
    this.loaded.set(id, dir);
    return id;
  }

  async unloadAdapter(id: number): Promise<void> {
    this.loaded.delete(id);
  }

  async createSequence(s: SamplingParams): Promise<number> {
    this.created.push(s);
    const id = this.nextSeq++;
    this.seqs.set(id, { len: 0, seed: s.seed, cancelled: false });
    return id;
  }

  async freeSequence(id: number): Promise<void> {
    this.seqs.delete(id);
  }

  cancelSequence(id: number): void {
    const s = this.seqs.get(id);
    if (s) s.cancelled = true;
  }

  /** While on, every item that samples fails with NON_FINITE (the native fault hook's NaN logits). */
  async poisonLogits(on: boolean): Promise<void> {
    this.poisoned = on;
  }

  async reset(): Promise<void> {
    this.resets++;
    this.seqs.clear();
    this.loaded.clear();
    this.nextSeq = 0;
    this.nextAdapter = 0;
    this.poisoned = false;
  }

  /** The token a sequence produces after `len` tokens: lowercase letters from the seed and adapters. */
  static tokenAt(seed: number, len: number, adapterIds: number[]): number {
    const mix = adapterIds.reduce((a, b) => a * 31 + b + 7, seed);
    return 97 + ((mix * 17 + len * 13) % 26);
  }

  async step(items: PortStepItem[]): Promise<PortStepResult[]> {
    this.steps.push(items);
    if (this.stepDelayMs) await new Promise((r) => setTimeout(r, this.stepDelayMs));
    return items.map((it) => {
      const s = this.seqs.get(it.sequence);
      if (!s) return { ok: false, token: -1, error: { code: "NOT_FOUND", message: "no such sequence" } };
      if (s.cancelled) return { ok: false, token: -1, error: { code: "CANCELLED", message: "cancelled" } };
      if (it.sample && this.poisoned) return { ok: false, token: -1, error: { code: "NON_FINITE", message: "the logits are not finite" } };
      s.len += it.tokens.length;
      if (!it.sample) return { ok: true, token: -1 };
      const generated = s.len;
      if (generated >= this.eosAfter) return { ok: true, token: 2 };
      return {
        ok: true,
        token: FakeEngine.tokenAt(
          s.seed,
          s.len,
          it.adapters.map((a) => (this.loaded.has(a.adapter) ? Number(this.loaded.get(a.adapter)!.replace(/\D/g, "") || 0) : -1)),
        ),
      };
    });
  }
}
