// Text generation on a deterministic fake engine, installed into a running test server: the
// real API, quota admission, records and scheduler, with an engine whose steps a test can
// hold (so generations stay running for as long as it needs) and release.
import type { Quiver } from "../../apps/api/src/app.js";
import { FakeEngine } from "../../apps/api/src/generation/fake-engine.js";
import { GenerationService } from "../../apps/api/src/generation/generation-service.js";
import type { PortStepItem, PortStepResult } from "../../apps/api/src/generation/engine-port.js";
import { Scheduler, defaultSchedulerOptions, type SchedulerOptions } from "../../apps/api/src/generation/scheduler.js";
import type { AdapterStorage } from "../../apps/api/src/pool/storage.js";
import type { Retriever } from "../../apps/api/src/retriever/retriever.js";
import { Registry } from "../../apps/api/src/observability/metrics.js";

/** A FakeEngine whose steps wait while it is held. */
export class GatedEngine extends FakeEngine {
  private gate: Promise<void> = Promise.resolve();
  private release: () => void = () => {};

  /** Steps from now on wait until `open()`. */
  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }

  open(): void {
    this.release();
    this.gate = Promise.resolve();
  }

  override async step(items: PortStepItem[]): Promise<PortStepResult[]> {
    await this.gate;
    return super.step(items);
  }
}

/**
 * Serves generation on the fake engine in `quiver` (strategy NONE only: no retriever), with
 * the scheduler options the server's configuration gives, overridden by `options`.
 */
export function installFakeGeneration(quiver: Quiver, options: Partial<SchedulerOptions> = {}): { engine: GatedEngine; scheduler: Scheduler } {
  const s = quiver.services;
  const engine = new GatedEngine(4096);
  const c = s.config;
  const scheduler = new Scheduler(engine, {
    ...defaultSchedulerOptions,
    maxBatch: c.QUIVER_MAX_BATCH,
    maxQueue: c.QUIVER_MAX_QUEUE,
    teamShare: c.QUIVER_QUEUE_TEAM_SHARE,
    ...options,
  });
  const noRetriever = new Proxy(
    {},
    {
      get: () => {
        throw new Error("the fake engine serves strategy NONE only");
      },
    },
  ) as Retriever;
  const noStorage = { localDir: () => "" } as unknown as AdapterStorage;
  s.scheduler = scheduler;
  s.generation = new GenerationService({
    scheduler,
    port: engine,
    retriever: noRetriever,
    embeddings: s.embeddings,
    adapters: s.adapters,
    records: s.generations,
    quotas: s.quotas,
    storage: noStorage,
    baseModelId: "fake",
    metrics: new Registry(),
  });
  return { engine, scheduler };
}
