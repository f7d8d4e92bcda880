// Starts the platform in this process: catalog (migrated), first-start bootstrap, API server.
// `quiver serve` adds the dashboard; the end-to-end tests call this directly.
import path from "node:path";
import type { Config } from "./config.js";
import { openCatalog, type Catalog } from "./catalog/database.js";
import { createServices, type Services } from "./services.js";
import { bootstrapAdmin, type BootstrapResult } from "./bootstrap.js";
import { startApiServer, type ApiServer } from "./server/http.js";
import { ModelHost } from "./model-host.js";
import { ModelStore } from "./catalog/models.js";
import { EmbeddingStore } from "./catalog/embeddings.js";
import { openEmbedder, type AdapterEmbedder } from "./retrieval-host.js";
import { Registry } from "./observability/metrics.js";
import { NativeEnginePort } from "./generation/engine-port.js";
import { Scheduler, defaultSchedulerOptions } from "./generation/scheduler.js";
import { GenerationService } from "./generation/generation-service.js";
import { Retriever } from "./retriever/retriever.js";
import { AdapterStore } from "./catalog/adapters.js";
import { GenerationStore } from "./catalog/generations.js";
import { DirectoryStorage } from "./pool/storage.js";

export interface Quiver {
  services: Services;
  api: ApiServer;
  bootstrap: BootstrapResult | undefined;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Use this catalog instead of opening the configured one (tests). It is closed on close(). */
  catalog?: Catalog;
  /** Log line sink (console.log by default). */
  log?: (line: string) => void;
}

export async function startQuiver(config: Config, options: StartOptions = {}): Promise<Quiver> {
  const log = options.log ?? ((line: string) => console.log(line));
  const catalog =
    options.catalog ??
    (await openCatalog(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : { dataDir: path.join(config.dataDir, "db") }));
  try {
    log(
      `[quiver] catalog: ${catalog.kind === "pglite" ? `embedded PGlite at ${options.catalog ? "(provided)" : path.join(config.dataDir, "db")}` : "PostgreSQL (DATABASE_URL)"}` +
        (catalog.appliedMigrations.length ? `, applied ${catalog.appliedMigrations.join(", ")}` : ", schema up to date"),
    );
    let model: ModelHost | undefined;
    let embedder: AdapterEmbedder | undefined;
    let retriever: Retriever | undefined;
    if (config.QUIVER_MODEL) {
      model = await ModelHost.open(
        { modelDir: path.resolve(config.QUIVER_MODEL), device: config.QUIVER_DEVICE, maxRank: config.QUIVER_MAX_RANK, maxAdapterBytes: config.QUIVER_MAX_ADAPTER_BYTES },
        new ModelStore(catalog.prisma),
        log,
      );
      embedder = await openEmbedder(new EmbeddingStore(catalog.prisma), { log, onActivated: () => retriever?.refresh() });
      log(`[quiver] encoder: ${embedder.encoderId}`);
    } else {
      log("[quiver] no QUIVER_MODEL: serving the catalog and teams; adapters cannot be added until a model is configured.");
    }
    const metrics = new Registry();
    let generation: GenerationService | undefined;
    let scheduler: Scheduler | undefined;
    if (model && embedder) {
      if (model.engine.tokenizer) {
        const port = new NativeEnginePort(model.engine);
        scheduler = new Scheduler(port, { ...defaultSchedulerOptions, maxBatch: config.QUIVER_MAX_BATCH, maxQueue: config.QUIVER_MAX_QUEUE });
        const embeddings = new EmbeddingStore(catalog.prisma);
        generation = new GenerationService({
          scheduler,
          port,
          retriever: (retriever = new Retriever(embeddings, embedder.encoders)),
          embeddings,
          adapters: new AdapterStore(catalog.prisma),
          records: new GenerationStore(catalog.prisma),
          storage: new DirectoryStorage(path.join(config.dataDir, "adapters")),
          baseModelId: model.baseModelId,
          metrics,
        });
      } else {
        log("[quiver] the model has no tokenizer.json: adapters can be managed, but text generation is off.");
      }
    }
    const services = createServices(config, catalog, { model, embedder, metrics, generation });
    const bootstrap = await bootstrapAdmin(services.identity, config);
    if (bootstrap) {
      log(`[quiver] first start: created the administrator ${bootstrap.email} and the team "Default".`);
      if (bootstrap.generatedPassword) {
        log(`[quiver] generated password (shown once, store it now): ${bootstrap.generatedPassword}`);
      }
    }
    const api = await startApiServer(services, { port: config.PORT, host: config.HOST });
    log(`[quiver] API on ${api.url} (GraphQL ${api.url}/graphql, health ${api.url}/healthz)`);
    return {
      services,
      api,
      bootstrap,
      async close() {
        await api.close();
        await scheduler?.close();
        await services.pool.idle();
        await embedder?.close();
        await model?.close();
        await catalog.close();
      },
    };
  } catch (err) {
    await catalog.close();
    throw err;
  }
}
