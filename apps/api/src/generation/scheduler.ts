// Continuous batching at the iteration level (as in Orca and vLLM): every step, requests join
// and leave the running batch; decode tokens (one per running sequence) and prefill chunks of
// newly admitted prompts share the step under a token budget; each sample brings its own
// adapter mapping. Admission is round-robin over teams (fair sharing), bounded by the batch
// size and by how many distinct adapters one step may use; the queue is bounded (a full queue
// refuses at once), and so is each team's share of it (a team flooding the queue leaves room
// for the others); refusals say when to retry (details.retryAfterSeconds). A cancelled
// request leaves the batch at the next step and frees its KV cache. Request states:
// QUEUED -> PREFILL -> DECODE -> DONE | CANCELLED | FAILED.
import { QuiverError } from "../errors.js";
import { AdapterResidency, type AdapterRef, type ResidencyStats } from "./adapter-residency.js";
import type { EnginePort, PortStepItem, SamplingParams, Strategy } from "./engine-port.js";
import { StopText } from "./stop-text.js";

export type RequestState = "QUEUED" | "PREFILL" | "DECODE" | "DONE" | "CANCELLED" | "FAILED";
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
}

export const defaultSchedulerOptions: SchedulerOptions = { maxBatch: 32, maxQueue: 256, tokenBudget: 512, prefillChunk: 256, adapterBudget: 64, teamShare: 0.5 };

interface Running {
  req: GenerationRequest;
  state: RequestState;
  emit: (e: SchedulerEvent) => void;
  seq: number;
  engineAdapters: { adapter: number; weight: number }[];
  prefilled: number;
  generated: number[];
  lastToken: number;
  decoder: ReturnType<EnginePort["streamDecoder"]>;
  stopText: StopText;
  enqueuedAt: number;
  admittedAt: number;
  firstTokenAt: number | null;
  cancel: boolean;
  /** Ended by a stop sequence: the held-back text is not sent. */
  stoppedByText: boolean;
}

interface Queued {
  req: GenerationRequest;
  emit: (e: SchedulerEvent) => void;
  enqueuedAt: number;
  cancel: boolean;
}

export interface SchedulerStats {
  queued: number;
  running: number;
  steps: number;
  tokensGenerated: number;
  adapters: ResidencyStats;
}

export interface SubmitHandle {
  cancel(): void;
}

export class Scheduler {
  private readonly queues = new Map<string, Queued[]>();
  private teamOrder: string[] = [];
  private nextTeam = 0;
  private running: Running[] = [];
  private readonly residency: AdapterResidency;
  private wake: (() => void) | undefined;
  private loopDone: Promise<void> | undefined;
  private closed = false;
  private queuedCount = 0;
  /** Recent requests' time from admission to their end (moving average), for Retry-After. */
  private runMs = 1000;
  readonly stats: SchedulerStats;

  constructor(
    private readonly port: EnginePort,
    private readonly options: SchedulerOptions = defaultSchedulerOptions,
  ) {
    this.residency = new AdapterResidency(port, options.adapterBudget);
    this.stats = { queued: 0, running: 0, steps: 0, tokensGenerated: 0, adapters: this.residency.stats };
  }

  /** Most requests one team may have waiting. */
  get teamQueueLimit(): number {
    return Math.max(1, Math.ceil(this.options.maxQueue * (this.options.teamShare ?? 1)));
  }

  /** Seconds until about `ahead` waiting requests have started (at least 1, at most 60). */
  private retryAfterSeconds(ahead: number): number {
    return Math.min(60, Math.max(1, Math.ceil(((ahead / this.options.maxBatch) * this.runMs) / 1000)));
  }

  /**
   * Queues a request; events arrive through `emit`. Throws OVERLOADED when the queue is full
   * or the team already holds its share of it (details.retryAfterSeconds: when to try again).
   */
  submit(req: GenerationRequest, emit: (e: SchedulerEvent) => void): SubmitHandle {
    if (this.closed) throw new QuiverError("OVERLOADED", "The server is shutting down.", { details: { retryAfterSeconds: 5 } });
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
      throw new QuiverError("BAD_USER_INPUT", `The prompt is ${req.prompt.length} tokens; the model's context is ${this.port.maxContext}.`, { details: { reason: "CONTEXT_OVERFLOW" } });
    }
    if (new Set(req.adapters.map((a) => a.key)).size > this.port.adapterSlots) {
      throw new QuiverError("BAD_USER_INPUT", `A request may use at most ${this.port.adapterSlots} adapters here.`, { details: { argument: "adapterIds" } });
    }
    const item: Queued = { req, emit, enqueuedAt: Date.now(), cancel: false };
    let q = this.queues.get(req.teamId);
    if (!q) {
      q = [];
      this.queues.set(req.teamId, q);
      this.teamOrder.push(req.teamId);
    }
    q.push(item);
    this.queuedCount++;
    this.stats.queued = this.queuedCount;
    this.kick();
    return {
      cancel: () => {
        item.cancel = true;
        const r = this.running.find((x) => x.req === req);
        if (r) {
          r.cancel = true;
          this.port.cancelSequence(r.seq);
        }
        this.kick();
      },
    };
  }

  /** Stops taking work; running and queued requests end as cancelled. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queues.values()) for (const item of q) item.cancel = true;
    for (const r of this.running) r.cancel = true;
    this.kick();
    await this.loopDone;
  }

  private kick(): void {
    if (this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
    if (!this.loopDone) this.loopDone = this.loop().finally(() => (this.loopDone = undefined));
  }

  private hasWork(): boolean {
    return this.running.length > 0 || this.queuedCount > 0;
  }

  private async loop(): Promise<void> {
    while (this.hasWork()) {
      await this.dropCancelled();
      await this.admit();
      if (this.running.length === 0) {
        if (this.queuedCount === 0) break;
        // Queued work that cannot start yet (adapter slots busy): wait for a change.
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      await this.step();
    }
  }

  private finish(r: Running, finishReason: FinishReason, error?: { code: string; message: string }): void {
    r.state = finishReason === "cancelled" ? "CANCELLED" : finishReason === "error" ? "FAILED" : "DONE";
    this.runMs = 0.8 * this.runMs + 0.2 * Math.max(1, Date.now() - r.admittedAt);
    if (finishReason === "length" || finishReason === "context" || (finishReason === "stop" && !r.stoppedByText)) {
      const tail = r.stopText.push(r.decoder.flush()).text + r.stopText.flush();
      if (tail) r.emit({ type: "delta", text: tail, tokens: 0 });
    }
    const now = Date.now();
    r.emit({
      type: "done",
      finishReason,
      tokensIn: r.req.prompt.length,
      tokensOut: r.generated.length,
      timings: { queueMs: r.admittedAt - r.enqueuedAt, ttftMs: r.firstTokenAt === null ? null : r.firstTokenAt - r.enqueuedAt, totalMs: now - r.enqueuedAt },
      ...(error ? { error } : {}),
    });
  }

  private async retire(r: Running): Promise<void> {
    this.running = this.running.filter((x) => x !== r);
    this.stats.running = this.running.length;
    this.residency.release(r.req.adapters);
    await this.port.freeSequence(r.seq).catch(() => undefined);
  }

  private async dropCancelled(): Promise<void> {
    for (const r of [...this.running]) {
      if (!r.cancel) continue;
      await this.retire(r);
      this.finish(r, "cancelled");
    }
    for (const [team, q] of this.queues) {
      const keep = q.filter((item) => {
        if (!item.cancel) return true;
        this.queuedCount--;
        const now = Date.now();
        item.emit({ type: "done", finishReason: "cancelled", tokensIn: item.req.prompt.length, tokensOut: 0, timings: { queueMs: now - item.enqueuedAt, ttftMs: null, totalMs: now - item.enqueuedAt } });
        return false;
      });
      this.queues.set(team, keep);
    }
    this.stats.queued = this.queuedCount;
  }

  /** Round-robin over teams with waiting requests, while the batch and adapter slots allow. */
  private async admit(): Promise<void> {
    let blocked = 0;
    while (this.running.length < this.options.maxBatch && this.queuedCount > 0 && blocked < this.teamOrder.length) {
      const team = this.teamOrder[this.nextTeam % this.teamOrder.length]!;
      this.nextTeam = (this.nextTeam + 1) % this.teamOrder.length;
      const q = this.queues.get(team)!;
      const head = q[0];
      if (!head || !this.residency.fits(head.req.adapters, this.port.adapterSlots)) {
        blocked++;
        continue;
      }
      blocked = 0;
      q.shift();
      this.queuedCount--;
      this.stats.queued = this.queuedCount;
      await this.start(head);
    }
    this.teamOrder = this.teamOrder.filter((t) => (this.queues.get(t)?.length ?? 0) > 0 || this.running.some((r) => r.req.teamId === t));
    for (const t of [...this.queues.keys()]) if (!this.teamOrder.includes(t)) this.queues.delete(t);
  }

  private async start(item: Queued): Promise<void> {
    const { req } = item;
    let ids: number[];
    try {
      ids = await this.residency.acquire(req.adapters);
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const now = Date.now();
      item.emit({ type: "started" });
      item.emit({
        type: "done", finishReason: "error", tokensIn: req.prompt.length, tokensOut: 0,
        timings: { queueMs: now - item.enqueuedAt, ttftMs: null, totalMs: now - item.enqueuedAt },
        error: { code: e.code ?? "INTERNAL", message: `loading an adapter failed: ${e.message ?? String(err)}` },
      });
      return;
    }
    const seq = await this.port.createSequence(req.sampling);
    const r: Running = {
      req,
      state: "PREFILL",
      emit: item.emit,
      seq,
      engineAdapters: ids.map((id, i) => ({ adapter: id, weight: req.adapters[i]!.weight })),
      prefilled: 0,
      generated: [],
      lastToken: -1,
      decoder: this.port.streamDecoder(),
      stopText: new StopText(req.stopSequences),
      enqueuedAt: item.enqueuedAt,
      admittedAt: Date.now(),
      firstTokenAt: null,
      cancel: item.cancel,
      stoppedByText: false,
    };
    this.running.push(r);
    this.stats.running = this.running.length;
    r.emit({ type: "started" });
  }

  private async step(): Promise<void> {
    let budget = this.options.tokenBudget;
    const batch: { r: Running; item: PortStepItem; prefillEnd: number }[] = [];
    // Decode first (one token each: latency of running streams), then prefill chunks.
    for (const r of this.running) {
      if (r.state !== "DECODE" || budget < 1) continue;
      budget -= 1;
      batch.push({ r, item: { sequence: r.seq, tokens: [r.lastToken], strategy: r.req.strategy, adapters: r.engineAdapters, sample: true }, prefillEnd: -1 });
    }
    for (const r of this.running) {
      if (r.state !== "PREFILL" || budget < 1) continue;
      const n = Math.min(this.options.prefillChunk, budget, r.req.prompt.length - r.prefilled);
      budget -= n;
      const end = r.prefilled + n;
      batch.push({
        r,
        item: { sequence: r.seq, tokens: r.req.prompt.slice(r.prefilled, end), strategy: r.req.strategy, adapters: r.engineAdapters, sample: end === r.req.prompt.length },
        prefillEnd: end,
      });
    }
    if (batch.length === 0) return;
    const results = await this.port.step(batch.map((b) => b.item));
    this.stats.steps++;
    for (let i = 0; i < batch.length; i++) {
      const { r, prefillEnd } = batch[i]!;
      const res = results[i]!;
      if (!res.ok) {
        await this.retire(r);
        this.finish(r, r.cancel || res.error?.code === "CANCELLED" ? "cancelled" : "error", r.cancel ? undefined : res.error);
        continue;
      }
      if (prefillEnd >= 0) {
        r.prefilled = prefillEnd;
        if (prefillEnd < r.req.prompt.length) continue;
        r.state = "DECODE";
      }
      await this.accept(r, res.token);
    }
  }

  /** Takes a sampled token: stop tokens, stop sequences, length and context limits. */
  private async accept(r: Running, token: number): Promise<void> {
    if (r.firstTokenAt === null) r.firstTokenAt = Date.now();
    if (!r.req.ignoreEos && this.port.eosTokenIds.includes(token)) {
      await this.retire(r);
      this.finish(r, "stop");
      return;
    }
    r.generated.push(token);
    r.lastToken = token;
    this.stats.tokensGenerated++;
    const { text, stopped } = r.stopText.push(r.decoder.push(token));
    if (text) r.emit({ type: "delta", text, tokens: 1 });
    else r.emit({ type: "delta", text: "", tokens: 1 });
    if (stopped) {
      r.stoppedByText = true;
      await this.retire(r);
      this.finish(r, "stop");
    } else if (r.generated.length >= r.req.maxTokens) {
      await this.retire(r);
      this.finish(r, "length");
    } else if (r.req.prompt.length + r.generated.length >= this.port.maxContext) {
      await this.retire(r);
      this.finish(r, "context");
    }
  }
}
