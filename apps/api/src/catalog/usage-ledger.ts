// The usage outbox: every usage write of a generation (progress while it runs, its ending)
// goes through here, so that a database outage loses nothing while the process lives.
//
//  - Writes are kept per generation, newest superseding (progress only rises; an ending
//    replaces progress), in first-in order, and flushed in that order in batches: one
//    transaction per batch (GenerationStore.writeUsage), so a write never lands before an
//    earlier one.
//  - `progress` / `finish` resolve true once their write is committed, false at once while
//    the database is out of reach (the write stays queued): callers never wait on an outage
//    (streams keep streaming, done events go out), nor more than WAIT_MS on a database that
//    hangs without failing (then false; the write still lands when it can).
//  - A batch that fails because the database is out of reach stays at the head; the watch
//    (database-health.ts) marks the database down (health "database", new requests refused)
//    and probes it; the outbox retries with backoff (RETRY_MIN_MS doubling to RETRY_MAX_MS)
//    and at once when the watch sees it back. Any other failure is retried entry by entry,
//    and an entry that fails alone MAX_ATTEMPTS times is dropped and logged in full (its
//    generation id and tokens), so one bad row cannot hold the others.
//  - Size: one entry per generation with unwritten usage. While the database is down no
//    generation is admitted (admission writes to it), so the outbox holds at most the
//    generations in flight when the outage began (QUIVER_MAX_BATCH + QUIVER_MAX_QUEUE by
//    default); `full` (MAX_ENTRIES) is a safety net the generation service refuses new
//    requests on.
//  - In memory only: if the process dies during an outage, the usage not yet written is lost:
//    per generation, the tokens delivered since its last committed write (at most everything
//    it delivered during the outage). Recovery then bills what was committed. A shutdown
//    waits for the outbox to drain (`flush`) and logs what it could not write.
import type { GenerationStore, UsageFinal, UsageProgress } from "./generations.js";
import { isDatabaseUnavailable, type DatabaseWatch } from "./database-health.js";

export const RETRY_MIN_MS = 100;
export const RETRY_MAX_MS = 2_000;
export const MAX_ATTEMPTS = 3;
export const MAX_BATCH = 256;
export const MAX_ENTRIES = 10_000;
/** Longest a caller waits for a write to commit (a database that hangs rather than fails). */
export const WAIT_MS = 3_000;

interface Entry {
  id: string;
  progress?: UsageProgress;
  final?: UsageFinal & { onCommitted?: () => void; onDropped?: () => void };
  waiters: ((committed: boolean) => void)[];
  attempts: number;
}

export class UsageLedger {
  private pending = new Map<string, Entry>();
  private running: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** Down as this outbox saw it (when there is no watch). */
  private downHere = false;
  private closed = false;
  private readonly drained = new Set<() => void>();

  constructor(
    private readonly store: GenerationStore,
    private readonly watch?: DatabaseWatch,
    private readonly options: { maxEntries?: number; waitMs?: number; log?: (line: string) => void } = {},
  ) {
    watch?.onUp(() => this.retryNow());
  }

  /** Whether writes are waiting on an outage (callers do not wait for them meanwhile). */
  get degraded(): boolean {
    return this.watch ? this.watch.down : this.downHere;
  }

  /** Generations with usage not yet written. */
  get size(): number {
    return this.pending.size;
  }

  /** The outbox holds as many generations as it may: new generations are refused until it drains. */
  get full(): boolean {
    return this.pending.size >= (this.options.maxEntries ?? MAX_ENTRIES);
  }

  /** Queues a generation's progress; resolves true once written, false at once while the database is down. */
  progress(p: UsageProgress): Promise<boolean> {
    return this.put(p.generationId, (e) => {
      if (e.final) return;
      if (!e.progress) e.progress = p;
      else
        e.progress = {
          ...p,
          tokensIn: Math.max(p.tokensIn, e.progress.tokensIn),
          tokensOut: Math.max(p.tokensOut, e.progress.tokensOut),
          status: p.status === "DECODE" || e.progress.status === "DECODE" ? "DECODE" : "PREFILL",
        };
    });
  }

  /**
   * Queues a generation's ending (exact usage); resolves true once written, false at once
   * while the database is down. `onCommitted` runs when it is written, `onDropped` if it
   * never can be.
   */
  finish(f: UsageFinal & { onCommitted?: () => void; onDropped?: () => void }): Promise<boolean> {
    return this.put(f.generationId, (e) => {
      e.final = f;
      e.progress = undefined;
    });
  }

  /** Waits until everything queued is written, or `timeoutMs`; returns what is left (entries). */
  async flush(timeoutMs: number): Promise<number> {
    if (this.pending.size === 0 && !this.running) return 0;
    this.retryNow();
    let timer: NodeJS.Timeout | undefined;
    let done: (() => void) | undefined;
    await new Promise<void>((resolve) => {
      done = resolve;
      this.drained.add(resolve);
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    if (timer) clearTimeout(timer);
    if (done) this.drained.delete(done);
    return this.pending.size;
  }

  /** What is still unwritten (for the log at shutdown). */
  unwritten(): { generationId: string; tokensIn: number; tokensOut: number; final: boolean }[] {
    return [...this.pending.values()].map((e) => {
      const w = e.final ?? e.progress!;
      return { generationId: e.id, tokensIn: w.tokensIn, tokensOut: w.tokensOut, final: !!e.final };
    });
  }

  /** Stops retrying (after `flush`, at shutdown). */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const e of this.pending.values()) for (const w of e.waiters.splice(0)) w(false);
  }

  private put(id: string, merge: (e: Entry) => void): Promise<boolean> {
    let e = this.pending.get(id);
    if (!e) {
      e = { id, waiters: [], attempts: 0 };
      this.pending.set(id, e);
    }
    merge(e);
    if (this.closed) return Promise.resolve(false);
    const entry = e;
    const committed = this.degraded
      ? Promise.resolve(false)
      : new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), this.options.waitMs ?? WAIT_MS);
          timer.unref();
          entry.waiters.push((ok) => {
            clearTimeout(timer);
            resolve(ok);
          });
        });
    this.kick();
    return committed;
  }

  private retryNow(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.kick();
  }

  private kick(): void {
    if (this.running || this.retryTimer || this.closed || this.pending.size === 0) return;
    // setImmediate: the writes of one event-loop turn (a whole engine step) go in one batch.
    this.running = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run())
      .finally(() => {
        this.running = undefined;
        if (this.pending.size === 0) for (const d of [...this.drained]) d();
        else this.kick();
      });
  }

  private async run(): Promise<void> {
    while (this.pending.size && !this.retryTimer && !this.closed) {
      const batch = [...this.pending.values()].slice(0, MAX_BATCH);
      for (const e of batch) this.pending.delete(e.id);
      try {
        await this.store.writeUsage(batch);
        this.failures = 0;
        if (this.downHere) {
          this.downHere = false;
          this.log("[usage] the database is back: the usage outbox is flushing");
        }
        for (const e of batch) this.committed(e);
      } catch (err) {
        this.putBack(batch);
        if (this.watch ? this.watch.failed(err) : isDatabaseUnavailable(err)) {
          if (!this.watch && !this.downHere) this.log(`[usage] the database is out of reach; ${this.pending.size} generations' usage waits in memory`);
          this.downHere = true;
          // Nobody waits on an outage: callers go on; the writes stay queued.
          for (const e of this.pending.values()) for (const w of e.waiters.splice(0)) w(false);
          this.backoff();
          return;
        }
        if (batch.length > 1) {
          await this.oneByOne(batch.map((e) => e.id));
          continue;
        }
        const e = this.pending.get(batch[0]!.id);
        if (e && ++e.attempts >= MAX_ATTEMPTS) this.drop(e, err);
        else this.backoff();
        return;
      }
    }
  }

  /** After a batch failed for a reason other than an outage: each entry alone, in order. */
  private async oneByOne(ids: string[]): Promise<void> {
    for (const id of ids) {
      const e = this.pending.get(id);
      if (!e) continue;
      this.pending.delete(id);
      try {
        await this.store.writeUsage([e]);
        this.committed(e);
      } catch (err) {
        this.putBack([e]);
        if (this.watch ? this.watch.failed(err) : isDatabaseUnavailable(err)) return;
        const back = this.pending.get(id)!;
        if (++back.attempts >= MAX_ATTEMPTS) this.drop(back, err);
      }
    }
  }

  private committed(e: Entry): void {
    for (const w of e.waiters.splice(0)) w(true);
    e.final?.onCommitted?.();
  }

  private drop(e: Entry, err: unknown): void {
    this.pending.delete(e.id);
    const w = e.final ?? e.progress!;
    console.error(
      `[usage] dropping the usage of generation ${e.id} after ${e.attempts} failed writes (tokensIn ${w.tokensIn}, tokensOut ${w.tokensOut}, ${e.final ? "final" : "progress"}):`,
      err,
    );
    for (const r of e.waiters.splice(0)) r(false);
    e.final?.onDropped?.();
  }

  /** Puts a failed batch back at the head, merged with what came for the same generations since. */
  private putBack(batch: Entry[]): void {
    const merged = new Map<string, Entry>();
    for (const e of batch) {
      const newer = this.pending.get(e.id);
      if (newer) {
        this.pending.delete(e.id);
        newer.waiters.unshift(...e.waiters);
        if (!newer.final && !e.final && e.progress && newer.progress) {
          newer.progress = {
            ...newer.progress,
            tokensIn: Math.max(newer.progress.tokensIn, e.progress.tokensIn),
            tokensOut: Math.max(newer.progress.tokensOut, e.progress.tokensOut),
          };
        } else if (!newer.final && e.final) {
          newer.final = e.final;
          newer.progress = undefined;
        }
        newer.attempts = Math.max(newer.attempts, e.attempts);
        merged.set(e.id, newer);
      } else merged.set(e.id, e);
    }
    this.pending = new Map([...merged, ...this.pending]);
  }

  private backoff(): void {
    if (this.retryTimer || this.closed) return;
    const ms = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.kick();
    }, ms);
    this.retryTimer.unref();
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => console.error(l)))(line);
  }
}
