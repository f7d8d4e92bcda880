// Generation in a running test server through the test-only fault hook: the test opens an
// engine of its own on the served model (with the native fault hook, for NaN logits), wraps
// it in FaultInjectingPort and serves generation through that, with the server's catalog,
// quotas, retrieval and storage. The server itself never builds a FaultInjectingPort.
import path from "node:path";
import { Engine } from "@quiver/engine";
import type { Quiver } from "../../apps/api/src/app.js";
import { FaultInjectingPort } from "../../apps/api/src/generation/engine-faults.js";
import { NativeEnginePort } from "../../apps/api/src/generation/engine-port.js";
import { GenerationService } from "../../apps/api/src/generation/generation-service.js";
import { Scheduler, defaultSchedulerOptions, type SchedulerOptions } from "../../apps/api/src/generation/scheduler.js";
import { Registry } from "../../apps/api/src/observability/metrics.js";
import { DirectoryStorage } from "../../apps/api/src/pool/storage.js";

export interface FaultyGeneration {
  port: FaultInjectingPort;
  scheduler: Scheduler;
  /** The generation service's metrics (a registry of its own: the server's keeps the first service's). */
  metrics: Registry;
  /** The engine serving now (a new one after the scheduler re-created it). */
  engine(): Engine;
  close(): Promise<void>;
}

export async function installFaultyGeneration(quiver: Quiver, modelDir: string, options: Partial<SchedulerOptions> = {}): Promise<FaultyGeneration> {
  const s = quiver.services;
  const open = () =>
    Engine.open(modelDir, { device: "cpu", maxRank: s.config.QUIVER_MAX_RANK, maxAdapterBytes: s.config.QUIVER_MAX_ADAPTER_BYTES, testFaults: true });
  let engine = await open();
  const native = new NativeEnginePort(engine, {
    reopen: async () => {
      const old = engine;
      engine = await open();
      await old.close().catch(() => undefined);
      return engine;
    },
  });
  const port = new FaultInjectingPort(native, {}, (on) => engine.setTestFaults(on ? { logitIndex: 0, logitValue: Number.NaN } : {}));
  const c = s.config;
  const scheduler = new Scheduler(
    port,
    { ...defaultSchedulerOptions, maxBatch: c.QUIVER_MAX_BATCH, maxQueue: c.QUIVER_MAX_QUEUE, teamShare: c.QUIVER_QUEUE_TEAM_SHARE, ...options },
    { health: s.health, log: () => {} },
  );
  await s.scheduler?.close();
  const metrics = new Registry();
  s.scheduler = scheduler;
  s.generation = new GenerationService({
    scheduler,
    port,
    retriever: s.retriever!,
    embeddings: s.embeddings,
    adapters: s.adapters,
    records: s.generations,
    quotas: s.quotas,
    storage: new DirectoryStorage(path.join(c.dataDir, "adapters")),
    baseModelId: s.model!.baseModelId,
    metrics,
    weighting: c.weighting,
  });
  return {
    port,
    scheduler,
    metrics,
    engine: () => engine,
    close: async () => {
      await scheduler.close();
      await engine.close().catch(() => undefined);
    },
  };
}
