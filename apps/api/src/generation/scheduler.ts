// Continuous batching at the iteration level (as in Orca and vLLM): every step, requests join
// and leave the running batch; decode tokens (one per running sequence) and prefill chunks of
// newly admitted prompts share the step under a token budget; each sample brings its own
// adapter mapping. Admission is round-robin over teams (fair sharing), bounded by the batch
// size and by how many distinct adapters one step may use; the queue is bounded (a full queue
// refuses at once), and so is each team's share of it (a team flooding the queue leaves room
// for the others); refusals say when to retry (details.retryAfterSeconds).
//
// Request states: QUEUED -> LOADING (its adapters load beside the steps; the batch keeps
// decoding) -> PREFILL -> DECODE -> DONE | CANCELLED | FAILED. Every request ends with exactly
// one `done` event, whatever fails.
//
// Cancellation acts at once: a QUEUED or LOADING request leaves at the call (it never reaches
// the engine), a running one is cancelled in the engine and leaves at the next step.
//
// Faults stay small: a step the engine rejects as a whole fails the requests in it (and only
// those) with ENGINE_ERROR, as does a failed createSequence for its request; the loop never
// rejects. After `resetAfterFailures` engine failures in a row the engine is re-created
// (EnginePort.reset): running requests fail, loading ones go back to the head of their queue,
// the adapters that were resident are loaded again, and queued requests are served by the
// new engine. Meanwhile health reports "engine" degraded; it recovers once the new engine
// has run a probe step. If the engine cannot be re-created, the waiting requests fail, new
// ones are refused with ENGINE_ERROR, and it is retried with backoff.
import { QuiverError } from "../errors.js";
import type { HealthComponent } from "../observability/health-state.js";
import { AdapterResidency, type AdapterRef, type ResidencyStats } from "./adapter-residency.js";
import type { EnginePort, PortStepItem, PortStepResult, SamplingParams, Strategy } from "./engine-port.js";
import { StopText } from "./stop-text.js";

export type RequestState = "QUEUED" | "LOADING" | "PREFILL" | "DECODE" | "DONE" | "CANCELLED" | "FAILED";
export type FinishReason = "stop" | "length" | "context" | "cancelled" | "error";

export interface GenerationRequest {
  id: string;
  teamId: string;
  /** Prompt token ids (BOS included when wanted). */
  prompt: number[];
  sampling: SamplingParams;
  maxTokens: number;
  stopSequences: string[];
  /** Keep generating past end-of-sequence tokens (benchmarks, exact lengths). */
  ignoreEos?: boolean;
  strategy: Strategy;
  adapters: (AdapterRef & { weight: number })[];
}

export interface Timings {
  queueMs: number;
  ttftMs: number | null;
  totalMs: number;
}

export type SchedulerEvent =
  | { type: "started" }
  | { type: "delta"; text: string; tokens: number }
  | { type: "done"; finishReason: FinishReason; tokensIn: number; tokensOut: number; timings: Timings; error?: { code: string; message: string } };

export interface SchedulerOptions {
  maxBatch: number;
  maxQueue: number;
  /** Tokens one step may process (decode tokens + prefill chunks). */
  tokenBudget: number;
  /** Largest prefill chunk of one sequence in one step. */
  prefillChunk: number;
  /** Adapter versions kept loaded when idle. */
  adapterBudget: number;
  /** The largest share of the queue one team may hold: max(1, ceil(maxQueue * teamShare)) requests (omitted: 1, the whole queue). */
  teamShare?: number;
  /** Engine failures in a row (failed steps, failed sequence creations) that re-create the engine (omitted: 3). */
  resetAfterFailures?: number;
  /** First wait before trying again to re-create an engine that could not be (doubles, at most 30 s; omitted: 1000). */
  resetBackoffMs?: number;
}

export const defaultSchedulerOptions: SchedulerOptions = {
  maxBatch: 32,
  maxQueue: 256,
  tokenBudget: 512,
  prefillChunk: 256,
  adapterBudget: 64,
  teamShare: 0.5,
  resetAfterFailures: 3,
  resetBackoffMs: 1000,
};

/** Where the scheduler reports the engine's standing (services.health in the server). */
export interface HealthSink {
  degrade(component: HealthComponent, reason: string): void;
  recover(component: HealthComponent): void;
}

export interface SchedulerHooks {
  health?: HealthSink;
  /** Engine faults and restarts (console.error by default). */
  log?: (line: string) => void;
}

interface Job {
  req: GenerationRequest;
  emit: (e: SchedulerEvent) => void;
  state: RequestState;
  enqueuedAt: number;
  /** Engine ids of req.adapters, once loaded. */
  adapterIds: number[];
  /** Set when the request holds its adapters' uses (from LOADING until it ends or is sent back). */
  holdsAdapters: boolean;
  /** Bumped whenever the request leaves LOADING, so that a late load result is ignored. */
  loadTicket: number;
  seq: number;
  engineAdapters: { adapter: number; weight: number }[];
  prefilled: number;
  generated: number[];
  lastToken: number;
  decoder: ReturnType<EnginePort["streamDecoder"]> | undefined;
  stopText: StopText | undefined;
  admittedAt: number;
  firstTokenAt: number | null;
  cancel: boolean;
  /** Ended by a stop sequence: the held-back text is not sent. */
  stoppedByText: boolean;
}

export interface SchedulerStats {
  queued: number;
  running: number;
  steps: number;
  tokensGenerated: number;
  /** Steps the engine rejected as a whole, and times it was re-created, since start. */
  failedSteps: number;
  engineResets: number;
  adapters: ResidencyStats;
}

export interface SubmitHandle {
  cancel(): void;
}

const ENDED: ReadonlySet<RequestState> = new Set(["DONE", "CANCELLED", "FAILED"]);

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return `${typeof e?.code === "string" ? `[${e.code}] ` : ""}${typeof e?.message === "string" ? e.message : String(err)}`;
}

export class Scheduler {
  private readonly queues = new Map<string, Job[]>();
  private teamOrder: string[] = [];
  private nextTeam = 0;
  /** LOADING: waiting for their adapters; ready: adapters loaded, a sequence not yet made. */
  private readonly loading = new Set<Job>();
  private ready: Job[] = [];
  private running: Job[] = [];
  private readonly residency: AdapterResidency;
  private wake: (() => void) | undefined;
  private looping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private closed = false;
  private closeWake: (() => void) | undefined;
  private queuedCount = 0;
  /** Engine failures in a row, and whether the engine could not be re-created (new requests refused). */
  private failures = 0;
  private engineDown: string | undefined;
  /** Recent requests' time from admission to their end (moving average), for Retry-After. */
  private runMs = 1000;
  private readonly log: (line: string) => void;
  readonly stats: SchedulerStats;

  constructor(
    private readonly port: EnginePort,
    private readonly options: SchedulerOptions = defaultSchedulerOptions,
    private readonly hooks: SchedulerHooks = {},
  ) {
    this.residency = new AdapterResidency(port, options.adapterBudget);
    this.stats = { queued: 0, running: 0, steps: 0, tokensGenerated: 0, failedSteps: 0, engineResets: 0, adapters: this.residency.stats };
    this.log = hooks.log ?? ((line) => console.error(line));
  }

  /** Most requests one team may have waiting. */
  get teamQueueLimit(): number {
    return Math.max(1, Math.ceil(this.options.maxQueue * (this.options.teamShare ?? 1)));
  }

  /** Requests holding a place in the batch: running, or admitted and waiting for adapters or a sequence. */
  private get active(): number {
    return this.running.length + this.loading.size + this.ready.length;
  }

  /** Seconds until about `ahead` waiting requests have started (at least 1, at most 60). */
  private retryAfterSeconds(ahead: number): number {
    return Math.min(60, Math.max(1, Math.ceil(((ahead / this.options.maxBatch) * this.runMs) / 1000)));
  }

  /**
   * Queues a request; events arrive through `emit`. Throws OVERLOADED when the queue is full
   * or the team already holds its share of it (details.retryAfterSeconds: when to try again),
   * ENGINE_ERROR while the engine cannot be re-created.
   */
  submit(req: GenerationRequest, emit: (e: SchedulerEvent) => void): SubmitHandle {
    if (this.closed) throw new QuiverError("OVERLOADED", "The server is shutting down.", { details: { retryAfterSeconds: 5 } });
    if (this.engineDown) throw new QuiverError("ENGINE_ERROR", `The engine is down: ${this.engineDown}`, { details: { retryAfterSeconds: 10 } });
    if (this.queuedCount >= this.options.maxQueue) {
      throw new QuiverError("OVERLOADED", `The generation queue is full (${this.options.maxQueue} waiting); try again shortly.`, {
        details: { queued: this.queuedCount, limit: this.options.maxQueue, scope: "server", retryAfterSeconds: this.retryAfterSeconds(this.queuedCount) },
      });
    }
    const teamQueued = this.queues.get(req.teamId)?.length ?? 0;
    if (teamQueued >= this.teamQueueLimit) {
      throw new QuiverError("OVERLOADED", `This team already has ${teamQueued} generation requests waiting, its share of the queue; try again shortly.`, {
        details: { queued: teamQueued, limit: this.teamQueueLimit, scope: "team", retryAfterSeconds: this.retryAfterSeconds(teamQueued) },
      });
    }
    if (req.prompt.length + 1 > this.port.maxContext) {
      throw new QuiverError("BAD_USER_INPUT", `The prompt is ${req.prompt.length} tokens; the model's context is ${this.port.maxContext}.`, {
        details: { reason: "CONTEXT_OVERFLOW" },
      });
    }
    if (new Set(req.adapters.map((a) => a.key)).size > this.port.adapterSlots) {
      throw new QuiverError("BAD_USER_INPUT", `A request may use at most ${this.port.adapterSlots} adapters here.`, { details: { argument: "adapterIds" } });
    }
    const job: Job = {
      req,
      emit,
      state: "QUEUED",
      enqueuedAt: Date.now(),
      adapterIds: [],
      holdsAdapters: false,
      loadTicket: 0,
      seq: -1,
      engineAdapters: [],
      prefilled: 0,
      generated: [],
      lastToken: -1,
      decoder: undefined,
      stopText: undefined,
      admittedAt: 0,
      firstTokenAt: null,
      cancel: false,
      stoppedByText: false,
    };
    this.enqueue(job, "back");
    this.kick();
    return { cancel: () => this.cancel(job) };
  }

  private enqueue(job: Job, end: "front" | "back"): void {
    job.state = "QUEUED";
    let q = this.queues.get(job.req.teamId);
    if (!q) {
      q = [];
      this.queues.set(job.req.teamId, q);
    }
    if (!this.teamOrder.includes(job.req.teamId)) this.teamOrder.push(job.req.teamId);
    if (end === "back") q.push(job);
    else q.unshift(job);
    this.queuedCount++;
    this.stats.queued = this.queuedCount;
  }

  private unqueue(job: Job): void {
    const q = this.queues.get(job.req.teamId);
    const i = q ? q.indexOf(job) : -1;
    if (i < 0) return;
    q!.splice(i, 1);
    this.queuedCount--;
    this.stats.queued = this.queuedCount;
  }

  /** Ends a request now if it has not reached the engine; a running one leaves at the next step. */
  private cancel(job: Job): void {
    if (ENDED.has(job.state)) return;
    job.cancel = true;
    if (job.state === "QUEUED") {
      this.unqueue(job);
      this.finish(job, "cancelled");
    } else if (job.state === "LOADING") {
      this.loading.delete(job);
      this.dropAdapters(job);
      this.finish(job, "cancelled");
    } else if (job.seq >= 0) {
      // Ready jobs have no sequence yet: startReady() sees `cancel` and ends them unstarted.
      try {
        this.port.cancelSequence(job.seq);
      } catch (err) {
        this.log(`[scheduler] cancelling sequence ${job.seq} failed: ${describe(err)}`);
      }
    }
    this.kick();
  }

  /** Stops taking work; running and queued requests end as cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of [...this.queues.values()]) for (const job of [...q]) this.cancel(job);
    for (const job of [...this.loading, ...this.ready, ...this.running]) this.cancel(job);
    this.closeWake?.();
    this.kick();
    await this.loopDone;
  }

  private kick(): void {
    if (this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
    if (!this.looping) {
      this.looping = true;
      this.loopDone = this.loop();
    }
  }

  /**
   * The loop: admit, start what is ready, step; wait when nothing can run. It never rejects:
   * an unexpected error fails the running batch as an engine fault and the loop goes on.
   */
  private async loop(): Promise<void> {
    try {
      for (;;) {
        try {
          this.admit();
          await this.startReady();
          await this.dropCancelled();
          if (this.running.length > 0) {
            await this.step();
            continue;
          }
          if (this.queuedCount === 0 && this.loading.size === 0 && this.ready.length === 0) return;
          if (this.ready.length > 0) continue;
          // Waiting work that cannot start yet (adapters loading, slots busy): wait for a change.
          await new Promise<void>((resolve) => (this.wake = resolve));
        } catch (err) {
          this.log(`[scheduler] unexpected error: ${(err as Error)?.stack ?? describe(err)}`);
          await this.failBatch(this.running, { code: "ENGINE_ERROR", message: `the scheduler failed: ${describe(err)}` });
          await this.engineFault(describe(err));
        }
      }
    } finally {
      this.looping = false;
    }
  }

  private emit(job: Job, e: SchedulerEvent): void {
    try {
      job.emit(e);
    } catch (err) {
      this.log(`[scheduler] an event listener of ${job.req.id} threw: ${describe(err)}`);
    }
  }

  private finish(job: Job, finishReason: FinishReason, error?: { code: string; message: string }): void {
    if (ENDED.has(job.state)) return;
    const wasRunning = job.state === "PREFILL" || job.state === "DECODE";
    job.state = finishReason === "cancelled" ? "CANCELLED" : finishReason === "error" ? "FAILED" : "DONE";
    const now = Date.now();
    if (wasRunning) this.runMs = 0.8 * this.runMs + 0.2 * Math.max(1, now - job.admittedAt);
    if (job.decoder && job.stopText && (finishReason === "length" || finishReason === "context" || (finishReason === "stop" && !job.stoppedByText))) {
      const tail = job.stopText.push(job.decoder.flush()).text + job.stopText.flush();
      if (tail) this.emit(job, { type: "delta", text: tail, tokens: 0 });
    }
    const admitted = job.admittedAt || now;
    this.emit(job, {
      type: "done",
      finishReason,
      tokensIn: job.req.prompt.length,
      tokensOut: job.generated.length,
      timings: {
        queueMs: admitted - job.enqueuedAt,
        ttftMs: job.firstTokenAt === null ? null : job.firstTokenAt - job.enqueuedAt,
        totalMs: now - job.enqueuedAt,
      },
      ...(error ? { error } : {}),
    });
  }

  private dropAdapters(job: Job): void {
    if (!job.holdsAdapters) return;
    job.holdsAdapters = false;
    job.loadTicket++;
    this.residency.release(job.req.adapters);
  }

  /** Takes a running request out of the batch and frees its sequence. */
  private async retire(job: Job): Promise<void> {
    this.running = this.running.filter((x) => x !== job);
    this.stats.running = this.running.length;
    this.dropAdapters(job);
    if (job.seq >= 0) await this.port.freeSequence(job.seq).catch(() => undefined);
  }

  private async failBatch(jobs: readonly Job[], error: { code: string; message: string }): Promise<void> {
    for (const job of [...jobs]) {
      await this.retire(job);
      this.finish(job, job.cancel ? "cancelled" : "error", job.cancel ? undefined : error);
    }
  }

  private async dropCancelled(): Promise<void> {
    for (const job of [...this.running]) {
      if (!job.cancel) continue;
      await this.retire(job);
      this.finish(job, "cancelled");
    }
  }

  /**
   * Round-robin over teams with waiting requests, while the batch and adapter slots allow:
   * an admitted request's adapter loads start here and run beside the steps (LOADING); it
   * joins the batch once they are in. Nothing here waits.
   */
  private admit(): void {
    let blocked = 0;
    while (this.active < this.options.maxBatch && this.queuedCount > 0 && this.teamOrder.length > 0 && blocked < this.teamOrder.length) {
      const team = this.teamOrder[this.nextTeam % this.teamOrder.length]!;
      this.nextTeam = (this.nextTeam + 1) % this.teamOrder.length;
      const head = this.queues.get(team)?.[0];
      if (!head || !this.residency.fits(head.req.adapters, this.port.adapterSlots)) {
        blocked++;
        continue;
      }
      blocked = 0;
      this.unqueue(head);
      this.load(head);
    }
    this.teamOrder = this.teamOrder.filter((t) => (this.queues.get(t)?.length ?? 0) > 0);
    for (const t of [...this.queues.keys()]) if (!this.teamOrder.includes(t)) this.queues.delete(t);
    if (this.teamOrder.length) this.nextTeam %= this.teamOrder.length;
    else this.nextTeam = 0;
  }

  private load(job: Job): void {
    job.state = "LOADING";
    job.holdsAdapters = true;
    const ticket = ++job.loadTicket;
    this.loading.add(job);
    this.residency.acquire(job.req.adapters).then(
      (ids) => {
        if (job.loadTicket !== ticket || job.state !== "LOADING") return;
        this.loading.delete(job);
        job.adapterIds = ids;
        this.ready.push(job);
        this.kick();
      },
      (err: unknown) => {
        if (job.loadTicket !== ticket || job.state !== "LOADING") return;
        this.loading.delete(job);
        this.dropAdapters(job);
        const e = err as { code?: unknown };
        this.finish(job, "error", { code: typeof e?.code === "string" ? e.code : "INTERNAL", message: `loading an adapter failed: ${describe(err)}` });
        this.kick();
      },
    );
  }

  /** Gives each ready request its engine sequence and a place in the running batch. */
  private async startReady(): Promise<void> {
    while (this.ready.length > 0) {
      const job = this.ready.shift()!;
      if (ENDED.has(job.state)) continue;
      if (job.cancel) {
        this.dropAdapters(job);
        this.finish(job, "cancelled");
        continue;
      }
      let seq: number;
      try {
        seq = await this.port.createSequence(job.req.sampling);
      } catch (err) {
        this.dropAdapters(job);
        this.finish(job, "error", { code: "ENGINE_ERROR", message: `the engine could not start this request: ${describe(err)}` });
        await this.engineFault(`createSequence: ${describe(err)}`);
        continue;
      }
      // Cancelled while its sequence was being made: it has ended already.
      if (ENDED.has(job.state)) {
        await this.port.freeSequence(seq).catch(() => undefined);
        continue;
      }
      const { req } = job;
      job.seq = seq;
      job.state = "PREFILL";
      job.engineAdapters = job.adapterIds.map((id, i) => ({ adapter: id, weight: req.adapters[i]!.weight }));
      job.decoder = this.port.streamDecoder();
      job.stopText = new StopText(req.stopSequences);
      job.admittedAt = Date.now();
      this.running.push(job);
      this.stats.running = this.running.length;
      this.emit(job, { type: "started" });
    }
  }

  private async step(): Promise<void> {
    let budget = this.options.tokenBudget;
    const batch: { job: Job; item: PortStepItem; prefillEnd: number }[] = [];
    // Decode first (one token each: latency of running streams), then prefill chunks.
    for (const job of this.running) {
      if (job.state !== "DECODE" || budget < 1) continue;
      budget -= 1;
      batch.push({
        job,
        item: { sequence: job.seq, tokens: [job.lastToken], strategy: job.req.strategy, adapters: job.engineAdapters, sample: true },
        prefillEnd: -1,
      });
    }
    for (const job of this.running) {
      if (job.state !== "PREFILL" || budget < 1) continue;
      const n = Math.min(this.options.prefillChunk, budget, job.req.prompt.length - job.prefilled);
      budget -= n;
      const end = job.prefilled + n;
      batch.push({
        job,
        item: {
          sequence: job.seq,
          tokens: job.req.prompt.slice(job.prefilled, end),
          strategy: job.req.strategy,
          adapters: job.engineAdapters,
          sample: end === job.req.prompt.length,
        },
        prefillEnd: end,
      });
    }
    if (batch.length === 0) return;
    let results: PortStepResult[];
    try {
      results = await this.port.step(batch.map((b) => b.item));
      if (!Array.isArray(results) || results.length !== batch.length)
        throw new Error(`the engine answered ${Array.isArray(results) ? results.length : "no"} results for ${batch.length} items`);
    } catch (err) {
      // The whole step failed: its requests fail, the others (queued, loading, not in this step) go on.
      this.stats.failedSteps++;
      this.log(`[scheduler] an engine step of ${batch.length} items failed: ${describe(err)}`);
      await this.failBatch(
        batch.map((b) => b.job),
        { code: "ENGINE_ERROR", message: `the engine failed a step: ${describe(err)}` },
      );
      await this.engineFault(`step: ${describe(err)}`);
      return;
    }
    this.stats.steps++;
    this.failures = 0;
    for (let i = 0; i < batch.length; i++) {
      const { job, prefillEnd } = batch[i]!;
      const res = results[i]!;
      if (ENDED.has(job.state)) continue;
      if (!res.ok) {
        await this.retire(job);
        this.finish(job, job.cancel || res.error?.code === "CANCELLED" ? "cancelled" : "error", job.cancel ? undefined : res.error);
        continue;
      }
      if (prefillEnd >= 0) {
        job.prefilled = prefillEnd;
        if (prefillEnd < job.req.prompt.length) continue;
        job.state = "DECODE";
      }
      await this.accept(job, res.token);
    }
  }

  /** Takes a sampled token: stop tokens, stop sequences, length and context limits. */
  private async accept(job: Job, token: number): Promise<void> {
    if (job.firstTokenAt === null) job.firstTokenAt = Date.now();
    if (!job.req.ignoreEos && this.port.eosTokenIds.includes(token)) {
      await this.retire(job);
      this.finish(job, "stop");
      return;
    }
    job.generated.push(token);
    job.lastToken = token;
    this.stats.tokensGenerated++;
    const { text, stopped } = job.stopText!.push(job.decoder!.push(token));
    this.emit(job, { type: "delta", text: text ?? "", tokens: 1 });
    if (stopped) {
      job.stoppedByText = true;
      await this.retire(job);
      this.finish(job, "stop");
    } else if (job.generated.length >= job.req.maxTokens) {
      await this.retire(job);
      this.finish(job, "length");
    } else if (job.req.prompt.length + job.generated.length >= this.port.maxContext) {
      await this.retire(job);
      this.finish(job, "context");
    }
  }

  // ---------------------------------------------------------------- engine faults

  /** Counts an engine failure; enough in a row re-create the engine. */
  private async engineFault(reason: string): Promise<void> {
    this.failures++;
    if (this.failures < (this.options.resetAfterFailures ?? 3) || this.closed) return;
    await this.resetEngine(reason);
  }

  private async resetEngine(reason: string): Promise<void> {
    const failures = this.failures;
    this.hooks.health?.degrade("engine", `the engine failed ${failures} times in a row (last: ${reason}); re-creating it`);
    this.log(`[scheduler] re-creating the engine after ${failures} failures in a row (last: ${reason})`);
    // Everything on the old engine ends: running requests fail; those that were waiting for
    // their adapters or a sequence go back to the head of their team's queue.
    await this.failBatch(this.running, { code: "ENGINE_ERROR", message: "the engine failed repeatedly and was re-created" });
    const admitted = [...this.ready, ...this.loading];
    this.ready = [];
    this.loading.clear();
    for (const job of admitted.reverse()) {
      this.dropAdapters(job);
      if (job.cancel) this.finish(job, "cancelled");
      else this.enqueue(job, "front");
    }
    const resident = this.residency.forget();
    let backoff = this.options.resetBackoffMs ?? 1000;
    for (;;) {
      try {
        await this.port.reset();
        await this.probe();
        break;
      } catch (err) {
        this.engineDown = `it could not be re-created (${describe(err)}); retrying in ${Math.round(backoff / 1000)} s`;
        this.hooks.health?.degrade("engine", `the engine failed ${failures} times in a row and ${this.engineDown}`);
        this.log(`[scheduler] re-creating the engine failed: ${describe(err)}`);
        // Nobody waits for an engine that may not come back: the queue fails now.
        for (const q of [...this.queues.values()]) {
          for (const job of [...q]) {
            this.unqueue(job);
            this.finish(job, "error", { code: "ENGINE_ERROR", message: `the engine is down: ${describe(err)}` });
          }
        }
        if (this.closed) return;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, backoff);
          this.closeWake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.closeWake = undefined;
        if (this.closed) return;
        backoff = Math.min(30_000, backoff * 2);
      }
    }
    this.engineDown = undefined;
    this.failures = 0;
    this.stats.engineResets++;
    this.residency.reload(resident);
    this.hooks.health?.recover("engine");
    this.log(`[scheduler] the engine was re-created; reloading ${resident.length} adapters`);
  }

  /** One greedy step on a fresh sequence: whether a re-created engine serves. */
  private async probe(): Promise<void> {
    const seq = await this.port.createSequence({ temperature: 0, topK: 0, topP: 1, seed: 0 });
    try {
      const [r] = await this.port.step([{ sequence: seq, tokens: [Math.max(0, this.port.bosTokenId)], strategy: "none", adapters: [], sample: true }]);
      if (!r?.ok) throw Object.assign(new Error(`the probe step failed: ${r?.error?.message ?? "no result"}`), { code: r?.error?.code ?? "INTERNAL" });
    } finally {
      await this.port.freeSequence(seq).catch(() => undefined);
    }
  }
}
