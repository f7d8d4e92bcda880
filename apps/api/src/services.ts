// The long-lived parts the API's handlers share, built once at start.
import type { Config } from "./config.js";
import type { Catalog } from "./catalog/database.js";
import { IdentityStore } from "./catalog/identity.js";
import { AdapterStore } from "./catalog/adapters.js";
import { TeamStore } from "./catalog/teams.js";
import { UsageStore } from "./catalog/usage.js";
import { LoginLimiter } from "./auth/rate-limit.js";
import { PoolStore } from "./catalog/pool.js";
import { PoolMapStore } from "./catalog/pool-map.js";
import type { ModelHost } from "./model-host.js";
import type { AdapterEmbedder } from "./retrieval-host.js";
import { PoolEvents } from "./pool/events.js";
import { PoolService } from "./pool/service.js";
import { DirectoryStorage } from "./pool/storage.js";
import path from "node:path";
import { GenerationStore } from "./catalog/generations.js";
import { GenerationService } from "./generation/generation-service.js";
import { NativeEnginePort } from "./generation/engine-port.js";
import { Scheduler, defaultSchedulerOptions } from "./generation/scheduler.js";
import { Retriever } from "./retriever/retriever.js";
import { Registry } from "./observability/metrics.js";
import { EmbeddingStore } from "./catalog/embeddings.js";
import { QuotaStore } from "./catalog/quotas.js";
import { ServerSettingsStore } from "./catalog/server-settings.js";
import { HealthState } from "./observability/health-state.js";
import { DatabaseWatch } from "./catalog/database-health.js";
import { UsageLedger } from "./catalog/usage-ledger.js";

export interface Services {
  config: Config;
  catalog: Catalog;
  identity: IdentityStore;
  adapters: AdapterStore;
  teams: TeamStore;
  usage: UsageStore;
  poolEvents: PoolEvents;
  poolMap: PoolMapStore;
  pool: PoolService;
  /** The served model, when QUIVER_MODEL is set. */
  model: ModelHost | undefined;
  embedder: AdapterEmbedder | undefined;
  /** Login attempts: 10 a minute per client address and email, and failed ones per address and per email. */
  loginLimiter: LoginLimiter;
  generations: GenerationStore;
  /** Atomic quota admission and reservations (generations, uploads). */
  quotas: QuotaStore;
  /** Server settings (default and maximum quotas, team creation), for server administrators. */
  serverSettings: ServerSettingsStore;
  embeddings: EmbeddingStore;
  /** Text generation, when the model can serve text (it has a tokenizer). */
  generation: GenerationService | undefined;
  /** The scheduler and retriever behind generation (when it is on). */
  scheduler: Scheduler | undefined;
  retriever: Retriever | undefined;
  metrics: Registry;
  /** Standing problems by component (engine, database, shutdown), for /healthz. */
  health: HealthState;
  /** Whether the database is in reach (new requests are refused DATABASE_UNAVAILABLE while it is not). */
  database: DatabaseWatch;
  /** The usage outbox: generations' usage, written in order, held through a database outage. */
  ledger: UsageLedger;
}

export function createServices(
  config: Config,
  catalog: Catalog,
  parts: { model?: ModelHost; embedder?: AdapterEmbedder; embeddings?: EmbeddingStore } = {},
): Services {
  const adapters = new AdapterStore(catalog.prisma);
  const poolEvents = new PoolEvents();
  const embeddings = parts.embeddings ?? new EmbeddingStore(catalog.prisma);
  const generations = new GenerationStore(catalog.prisma);
  const quotas = new QuotaStore(catalog.prisma);
  const storage = new DirectoryStorage(path.join(config.dataDir, "adapters"));
  const metrics = new Registry();
  const health = new HealthState();
  const database = new DatabaseWatch(catalog.prisma, health);
  const ledger = new UsageLedger(generations, database);
  // Text generation needs the model's tokenizer and the encoder for retrieval.
  let scheduler: Scheduler | undefined;
  let retriever: Retriever | undefined;
  let generation: GenerationService | undefined;
  if (parts.model?.engine.tokenizer && parts.embedder) {
    const model = parts.model;
    const port = new NativeEnginePort(model.engine, { reopen: () => model.reopen() });
    scheduler = new Scheduler(
      port,
      { ...defaultSchedulerOptions, maxBatch: config.QUIVER_MAX_BATCH, maxQueue: config.QUIVER_MAX_QUEUE, teamShare: config.QUIVER_QUEUE_TEAM_SHARE },
      { health },
    );
    retriever = new Retriever(embeddings, parts.embedder.encoders);
    generation = new GenerationService({
      scheduler,
      port,
      retriever,
      embeddings,
      adapters,
      records: generations,
      quotas,
      storage,
      baseModelId: parts.model.baseModelId,
      metrics,
      weighting: config.weighting,
      ledger,
    });
  }
  return {
    config,
    catalog,
    identity: new IdentityStore(catalog.prisma),
    adapters,
    teams: new TeamStore(catalog.prisma),
    usage: new UsageStore(catalog.prisma),
    poolEvents,
    poolMap: new PoolMapStore(catalog.prisma),
    pool: new PoolService({
      store: new PoolStore(catalog.prisma),
      quotas,
      adapters,
      storage,
      events: poolEvents,
      model: parts.model,
      embedder: parts.embedder,
      maxRank: config.QUIVER_MAX_RANK,
    }),
    model: parts.model,
    embedder: parts.embedder,
    generations,
    quotas,
    serverSettings: new ServerSettingsStore(catalog.prisma, config.serverSettings),
    embeddings,
    generation,
    scheduler,
    retriever,
    metrics,
    health,
    database,
    ledger,
    loginLimiter: new LoginLimiter({
      perPair: 10,
      pairWindowMs: 60_000,
      perAddress: config.QUIVER_LOGIN_MAX_PER_ADDRESS,
      perEmail: config.QUIVER_LOGIN_MAX_PER_EMAIL,
      windowMs: config.QUIVER_LOGIN_WINDOW_MINUTES * 60_000,
    }),
  };
}
