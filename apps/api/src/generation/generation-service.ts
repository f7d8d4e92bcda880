// Generation requests from accepted to finished: validation, quotas, adapters (pinned by id
// or retrieved for the input, only ones the caller may use), the record, the scheduler, and a
// live event log that subscribers replay from the start. Transports (GraphQL, OpenAI HTTP)
// sit on top of this.
import { z } from "zod";
import { QuiverError } from "../errors.js";
import type { PoolOwner, TeamScope } from "../auth/policy.js";
import type { AdapterStore, ServingAdapterRecord } from "../catalog/adapters.js";
import type { GenerationStore } from "../catalog/generations.js";
import { UsageLedger } from "../catalog/usage-ledger.js";
import type { QuotaStore } from "../catalog/quotas.js";
import type { EmbeddingStore } from "../catalog/embeddings.js";
import type { Retriever } from "../retriever/retriever.js";
import { dot } from "../retriever/vector-math.js";
import type { Weighting } from "../retriever/mixture-weights.js";
import type { AdapterStorage } from "../pool/storage.js";
import { Counter, Gauge, Histogram, type Registry } from "../observability/metrics.js";
import type { EnginePort, Strategy } from "./engine-port.js";
import type { FinishReason, Scheduler, SchedulerEvent, SubmitHandle } from "./scheduler.js";
import { UsageMeter } from "./usage-meter.js";

export type CompositionStrategy = "MIXTURE" | "FUSION" | "SELECTION" | "NONE";

export const generateInputSchema = z.object({
  prompt: z.string().max(100_000),
  strategy: z.enum(["MIXTURE", "FUSION", "SELECTION", "NONE"]).default("MIXTURE"),
  k: z.number().int().min(1).max(8).default(3),
  adapterIds: z.array(z.string().uuid()).min(1).max(8).nullish(),
  maxTokens: z.number().int().min(1).max(4096).default(128),
  temperature: z.number().min(0).max(5).default(0),
  topP: z.number().gt(0).max(1).nullish(),
  topK: z.number().int().min(0).max(1000).nullish(),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .nullish(),
  stop: z.array(z.string().min(1).max(64)).max(8).nullish(),
  ignoreEos: z.boolean().nullish(),
  teamId: z.string().uuid().nullish(),
});
export type GenerateInput = z.input<typeof generateInputSchema>;

export interface UsedAdapter {
  adapterId: string;
  name: string;
  score: number;
  weight: number;
}

export interface GenerationUsage {
  tokensIn: number;
  tokensOut: number;
  queueMs: number;
  ttftMs: number | null;
  totalMs: number;
}

export interface GenerationEvent {
  generationId: string;
  delta?: string;
  /** With a delta: the tokens delivered so far, this delta's included (billed before it went: usage-meter.ts). */
  delivered?: { tokensIn: number; tokensOut: number };
  done: boolean;
  adapters?: UsedAdapter[];
  /** The scheduler's reasons, and "shutdown": the server stopped before it finished (GenerationService.drain). */
  finishReason?: FinishReason | "shutdown";
  usage?: GenerationUsage;
  error?: { code: string; message: string };
}

const engineStrategy: Record<CompositionStrategy, Strategy> = { MIXTURE: "mixture", FUSION: "fusion", SELECTION: "selection", NONE: "none" };

/** A generation this process is running (or ran recently): its events so far and live ones. */
export class LiveGeneration {
  readonly events: GenerationEvent[] = [];
  private readonly listeners = new Set<() => void>();
  handle: SubmitHandle | undefined;
  finished = false;
  /** The record's writes, in order (a late status write must not overwrite the final one). */
  writes: Promise<unknown> = Promise.resolve();
  /** Set when the server ends it (shutdown): its cancellation is recorded as that, not as the client's. */
  endReason: "shutdown" | undefined;

  constructor(
    readonly id: string,
    readonly teamId: string,
  ) {}

  push(e: GenerationEvent): void {
    this.events.push(e);
    if (e.done) this.finished = true;
    for (const l of this.listeners) l();
  }

  cancel(): void {
    this.handle?.cancel();
  }

  /** Every event from the first; ends after the done event. `onClose` runs if the reader stops early. */
  subscribe(onClose?: () => void): AsyncIterableIterator<GenerationEvent> {
    let i = 0;
    let wake: (() => void) | undefined;
    const listener = () => wake?.();
    this.listeners.add(listener);
    let closed = false;
    const close = () => {
      closed = true;
      this.listeners.delete(listener);
      wake?.();
    };
    return {
      next: async (): Promise<IteratorResult<GenerationEvent>> => {
        for (;;) {
          if (closed) return { value: undefined, done: true };
          if (i < this.events.length) {
            const value = this.events[i++]!;
            if (value.done) close();
            return { value, done: false };
          }
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      },
      return: async () => {
        const early = !this.finished;
        close();
        if (early) onClose?.();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

export interface GenerationDeps {
  scheduler: Scheduler;
  port: EnginePort;
  retriever: Retriever;
  embeddings: EmbeddingStore;
  adapters: AdapterStore;
  records: GenerationStore;
  /** Admission under the team's quotas and the API key's limits (atomic, in the database). */
  quotas: QuotaStore;
  storage: AdapterStorage;
  baseModelId: string;
  metrics: Registry;
  /** Weights of a retrieved mixture (QUIVER_MIXTURE_WEIGHTING; default uniform here). */
  weighting?: Weighting;
  /** The usage outbox (durable usage; one over `records` without a database watch when omitted). */
  ledger?: UsageLedger;
}

/** Finished generations stay replayable this long. */
const KEEP_MS = 5 * 60_000;

export class GenerationService {
  private readonly live = new Map<string, LiveGeneration>();
  /** Every usage write goes through it (catalog/usage-ledger.ts). */
  readonly ledger: UsageLedger;
  /** Why new generations are refused (shutdown, database out of reach), when they are. */
  private refusal: (() => QuiverError | undefined) | undefined;
  private readonly generated: Counter;
  private readonly finishedTotal: Counter;
  private readonly ttft: Histogram;

  constructor(private readonly d: GenerationDeps) {
    this.ledger = d.ledger ?? new UsageLedger(d.records);
    const s = d.scheduler.stats;
    d.metrics.add(new Gauge("quiver_queue_depth", "Generation requests waiting to start.", () => s.queued));
    d.metrics.add(new Gauge("quiver_running_batch_size", "Sequences in the running batch.", () => s.running));
    d.metrics.add(new Gauge("quiver_engine_steps", "Engine steps run since start.", () => s.steps));
    d.metrics.add(
      new Gauge(
        "quiver_engine_failed_steps",
        "Engine steps the engine rejected as a whole since start (their requests ended ENGINE_ERROR).",
        () => s.failedSteps,
      ),
    );
    d.metrics.add(new Gauge("quiver_engine_resets", "Times the engine was re-created after repeated failures since start.", () => s.engineResets));
    d.metrics.add(new Gauge("quiver_adapter_slot_hits", "Requests that found their adapter already loaded.", () => s.adapters.hits));
    d.metrics.add(new Gauge("quiver_adapter_slot_misses", "Requests that had to load their adapter.", () => s.adapters.misses));
    d.metrics.add(new Gauge("quiver_adapters_resident", "Adapter versions loaded in the engine.", () => s.adapters.resident));
    d.metrics.add(
      new Gauge(
        "quiver_usage_outbox_entries",
        "Generations whose usage waits to be written (it grows while the database is out of reach).",
        () => this.ledger.size,
      ),
    );
    this.generated = d.metrics.add(new Counter("quiver_generated_tokens_total", "Tokens generated (rate() of it is tokens/s)."));
    this.finishedTotal = d.metrics.add(new Counter("quiver_generations_total", "Generations finished, by finish reason."));
    this.ttft = d.metrics.add(
      new Histogram("quiver_time_to_first_token_seconds", "Time from request to first token.", [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
    );
  }

  get(id: string): LiveGeneration | undefined {
    return this.live.get(id);
  }

  /** The adapters a caller may use for an input, best first, with scores and weights. */
  async retrieve(pool: PoolOwner, input: string, k: number, exclude: readonly string[] = []): Promise<UsedAdapter[]> {
    if (!input.trim()) throw new QuiverError("BAD_USER_INPUT", "The input is empty.", { details: { argument: "input" } });
    const r = await this.d.retriever.retrieve({ input, k, pool, baseModelId: this.d.baseModelId, exclude, weighting: this.d.weighting });
    return r.adapters.map((a) => ({ adapterId: a.adapterId, name: a.name, score: a.score, weight: a.weight }));
  }

  /** Scores of pinned adapters for the input (cosine, as retrieval would), uniform weights. */
  private async scorePinned(adapters: ServingAdapterRecord[], prompt: string): Promise<UsedAdapter[]> {
    const encoder = await this.d.retriever.activeEncoder();
    const q = prompt.trim() ? (await encoder.encode([prompt])).vectors[0]! : undefined;
    const stored = q
      ? await this.d.embeddings.getEmbeddings(
          adapters.map((a) => a.id),
          encoder.identity,
        )
      : new Map();
    return adapters.map((a) => {
      const e = stored.get(a.id);
      return { adapterId: a.id, name: a.name, score: e && q ? dot(q, e.vector) : 0, weight: 1 / adapters.length };
    });
  }

  /**
   * New generations are refused with the error `why` returns, while it returns one (a
   * shutdown: SHUTTING_DOWN; the database out of reach, or the usage outbox full:
   * DATABASE_UNAVAILABLE). Running ones go on.
   */
  refuseNew(why: () => QuiverError | undefined): void {
    const before = this.refusal;
    this.refusal = before ? () => before() ?? why() : why;
  }

  private refused(): QuiverError | undefined {
    if (this.ledger.full)
      return new QuiverError("DATABASE_UNAVAILABLE", "Usage cannot be written fast enough; try again shortly.", {
        details: { retryAfterSeconds: 2, reason: "usage outbox full" },
      });
    return this.refusal?.();
  }

  /** Validates, checks quotas, picks adapters, records and queues a generation. */
  async start(scope: TeamScope, raw: GenerateInput, options: { retrievalInput?: string } = {}): Promise<LiveGeneration> {
    const refusal = this.refused();
    if (refusal) throw refusal;
    const { principal, teamId } = scope;
    const parsed = generateInputSchema.safeParse(raw);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new QuiverError("BAD_USER_INPUT", `${i.path.join(".")}: ${i.message}`, { details: { argument: i.path.join(".") } });
    }
    const input = parsed.data;
    const apiKeyId = principal.kind === "apiKey" ? principal.keyId : null;
    // Refuses early, before retrieval, what admission below would refuse (advisory: the
    // admission, under the team's row lock, decides).
    await this.d.quotas.precheckGeneration(teamId, apiKeyId, input.maxTokens);

    let used: UsedAdapter[] = [];
    let records: ServingAdapterRecord[] = [];
    if (input.strategy !== "NONE") {
      if (input.adapterIds?.length) {
        const visible = (records = await this.d.adapters.getManyForServing(scope, input.adapterIds));
        if (visible.length !== input.adapterIds.length || new Set(input.adapterIds).size !== input.adapterIds.length) {
          throw new QuiverError("NOT_FOUND", "An adapter in adapterIds does not exist or is not available to this team.", {
            details: { argument: "adapterIds" },
          });
        }
        const unusable = visible.find((a) => a.status !== "ACTIVE" || !a.currentVersion || a.baseModelId !== this.d.baseModelId);
        if (unusable)
          throw new QuiverError(
            "BAD_USER_INPUT",
            `Adapter "${unusable.name}" is ${unusable.status.toLowerCase()}${unusable.baseModelId !== this.d.baseModelId ? " (for another base model)" : ""}.`,
            { details: { argument: "adapterIds" } },
          );
        if (input.strategy === "SELECTION") records = records.slice(0, 1);
        used = await this.scorePinned(records, input.prompt);
      } else {
        const query = options.retrievalInput ?? input.prompt;
        used = await this.retrieve(scope, query.trim() ? query : " ", input.strategy === "SELECTION" ? 1 : input.k);
        records = await this.d.adapters.getManyForServing(
          scope,
          used.map((u) => u.adapterId),
        );
        // An adapter disabled or deleted since retrieval is dropped, not used.
        const ok = new Set(records.filter((r) => r.status === "ACTIVE" && r.currentVersion).map((r) => r.id));
        used = used.filter((u) => ok.has(u.adapterId));
        records = used.map((u) => records.find((r) => r.id === u.adapterId)!);
        const total = used.reduce((a, u) => a + u.weight, 0);
        if (total > 0) used = used.map((u) => ({ ...u, weight: u.weight / total }));
      }
      if (input.strategy === "SELECTION") used = used.slice(0, 1).map((u) => ({ ...u, weight: 1 }));
    }

    const prompt = [this.d.port.bosTokenId, ...this.d.port.encode(input.prompt)];
    if (prompt.length + 1 > this.d.port.maxContext) {
      throw new QuiverError("BAD_USER_INPUT", `The prompt is ${prompt.length} tokens; the model's context is ${this.d.port.maxContext}.`, {
        details: { argument: "prompt", reason: "CONTEXT_OVERFLOW" },
      });
    }
    const who = { teamId, userId: principal.kind === "user" ? principal.user.id : null, apiKeyId };
    // Admitted (the record and a quota reservation written together) or QUOTA_EXCEEDED.
    const { generationId: id, reservationId } = await this.d.quotas.admitGeneration({
      ...who,
      strategy: used.length ? input.strategy : "NONE",
      k: used.length,
      adapters: used.map((u, i) => ({
        adapterId: u.adapterId,
        adapterName: u.name,
        versionId: records[i]!.currentVersion!.id,
        score: u.score,
        weight: u.weight,
      })),
      tokens: prompt.length + input.maxTokens,
    });
    const live = new LiveGeneration(id, teamId);
    this.live.set(id, live);
    live.push({ generationId: id, done: false, adapters: used });

    // Usage is billed ahead of delivery (usage-meter.ts): the record's progress and usage row
    // are written through the outbox before the tokens they cover reach the client.
    const tokensIn = prompt.length;
    const meter = new UsageMeter({
      maxTokens: input.maxTokens,
      deliver: (text, tokensOut) => live.push({ generationId: id, done: false, delta: text, delivered: { tokensIn, tokensOut } }),
      bill: (tokensOut, generated) =>
        this.ledger.progress({
          generationId: id,
          status: generated > 0 ? "DECODE" : "PREFILL",
          tokensIn,
          tokensOut,
          reserved: prompt.length + input.maxTokens,
        }),
      unmetered: () => this.ledger.degraded,
    });
    const onEvent = (e: SchedulerEvent) => {
      if (e.type === "started") meter.start();
      else if (e.type === "delta") {
        this.generated.inc({}, e.tokens);
        meter.push(e.text, e.tokens);
      } else void this.complete(live, who, reservationId, e, meter);
    };
    try {
      live.handle = this.d.scheduler.submit(
        {
          id,
          teamId,
          prompt,
          sampling: { temperature: input.temperature, topK: input.topK ?? 0, topP: input.topP ?? 1, seed: input.seed ?? Math.floor(Math.random() * 2 ** 31) },
          maxTokens: input.maxTokens,
          stopSequences: input.stop ?? [],
          ignoreEos: input.ignoreEos ?? false,
          strategy: used.length ? engineStrategy[input.strategy] : "none",
          adapters: used.map((u, i) => ({
            key: records[i]!.currentVersion!.id,
            dir: this.d.storage.localDir(records[i]!.currentVersion!.storageUri),
            weight: u.weight,
          })),
        },
        onEvent,
      );
    } catch (err) {
      // Refused at once (queue full): the record says so.
      const code = (err as QuiverError).code ?? "INTERNAL";
      void this.complete(live, who, reservationId, {
        type: "done",
        finishReason: "error",
        tokensIn: prompt.length,
        tokensOut: 0,
        timings: { queueMs: 0, ttftMs: null, totalMs: 0 },
        error: { code, message: (err as Error).message },
      });
      throw err;
    }
    return live;
  }

  /**
   * Every ending (done, cancelled, failed, refused by the scheduler, client gone, shutdown)
   * comes here once: it writes the exact usage through the outbox (and so frees the quota
   * reservation), then lets the held text and the done event go. While the database is out of
   * reach the write waits in the outbox and the done event goes at once.
   */
  private async complete(
    live: LiveGeneration,
    _who: { teamId: string; userId: string | null; apiKeyId: string | null },
    reservationId: string,
    e: Extract<SchedulerEvent, { type: "done" }>,
    meter?: UsageMeter,
  ): Promise<void> {
    const shutdown = e.finishReason === "cancelled" && live.endReason === "shutdown";
    const finishReason = shutdown ? "shutdown" : e.finishReason;
    const error = shutdown ? { code: "SHUTDOWN", message: "The server shut down before this generation finished." } : e.error;
    this.finishedTotal.inc({ reason: finishReason });
    if (e.timings.ttftMs !== null) this.ttft.observe(e.timings.ttftMs / 1000);
    const usage = { tokensIn: e.tokensIn, tokensOut: e.tokensOut, ...e.timings };
    await live.writes;
    await this.ledger.finish({
      generationId: live.id,
      status: e.finishReason === "cancelled" && !shutdown ? "CANCELLED" : e.finishReason === "error" || shutdown ? "FAILED" : "DONE",
      finishReason,
      errorCode: error?.code ?? null,
      ...usage,
      finishedAt: new Date(),
      onCommitted: () => this.d.quotas.settled(reservationId),
      // Never written (logged by the outbox): free the reservation on its own.
      onDropped: () => void this.d.quotas.release(reservationId).catch(() => undefined),
    });
    meter?.end();
    live.push({ generationId: live.id, done: true, finishReason, usage, ...(error ? { error } : {}) });
    setTimeout(() => this.live.delete(live.id), KEEP_MS).unref();
  }

  /** Generations this process is running now. */
  get running(): number {
    let n = 0;
    for (const g of this.live.values()) if (!g.finished) n++;
    return n;
  }

  /**
   * Shutdown: lets running generations finish within `graceMs`, then ends the rest (finish
   * reason "shutdown", FAILED with errorCode SHUTDOWN, their usage so far written) and waits
   * for their endings (at most `endMs` more). Returns how many finished and how many were ended.
   */
  async drain(graceMs: number, endMs = 10_000): Promise<{ finished: number; ended: number }> {
    const ended = (g: LiveGeneration) =>
      (async () => {
        for await (const e of g.subscribe()) if (e.done) break;
      })();
    const wait = (ms: number, p: Promise<unknown>) => {
      let t: NodeJS.Timeout | undefined;
      return Promise.race([p.then(() => true), new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(t));
    };
    const first = [...this.live.values()].filter((g) => !g.finished);
    await wait(graceMs, Promise.all(first.map(ended)));
    let cut = 0;
    const deadline = Date.now() + endMs;
    // Generations admitted during the grace period count too.
    for (
      let rest = [...this.live.values()].filter((g) => !g.finished);
      rest.length && Date.now() < deadline;
      rest = [...this.live.values()].filter((g) => !g.finished)
    ) {
      for (const g of rest) {
        if (g.endReason !== "shutdown") cut++;
        g.endReason = "shutdown";
        g.cancel();
      }
      await wait(Math.max(1, deadline - Date.now()), Promise.all(rest.map(ended)));
    }
    return { finished: first.filter((g) => g.endReason !== "shutdown").length, ended: cut };
  }

  /** Waits for every live generation to finish (tests, shutdown). */
  async idle(): Promise<void> {
    for (const g of this.live.values()) {
      if (g.finished) continue;
      for await (const e of g.subscribe()) if (e.done) break;
    }
  }
}
