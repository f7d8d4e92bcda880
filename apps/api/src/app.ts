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
import { registerZoo, servedModel, type ZooRegistration } from "./zoo/serving.js";
import { zooRetrieverHead } from "./zoo/manifest.js";
import { encoderConfigFromEnv } from "./retriever/encoder-factory.js";
import { Recovery } from "./recovery.js";
import { QuiverError } from "./errors.js";
import { databaseUnavailable } from "./catalog/database-health.js";

/** At shutdown, how long the usage outbox may take to write what it holds (a database outage meanwhile). */
export const SHUTDOWN_FLUSH_MS = 10_000;

export interface Quiver {
  services: Services;
  api: ApiServer;
  bootstrap: BootstrapResult | undefined;
  /** The zoo's adapters being registered in the background (when the zoo is served). */
  zooRegistration: Promise<ZooRegistration> | undefined;
  /**
   * Stops gracefully: refuses new generations (SHUTTING_DOWN, /healthz degraded "shutdown"),
   * lets running ones finish within `graceSeconds` (QUIVER_SHUTDOWN_GRACE_SECONDS), ends the
   * rest (finish reason "shutdown"), writes the usage outbox, then closes the API, the engine
   * and the catalog. Calling it again returns the same promise.
   */
  close(options?: { graceSeconds?: number }): Promise<void>;
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
    options.catalog ?? (await openCatalog(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : { dataDir: path.join(config.dataDir, "db") }));
  let recovery: Recovery | undefined;
  try {
    log(
      `[quiver] catalog: ${catalog.kind === "pglite" ? `embedded PGlite at ${options.catalog ? "(provided)" : path.join(config.dataDir, "db")}` : "PostgreSQL (DATABASE_URL)"}` +
        (catalog.appliedMigrations.length ? `, applied ${catalog.appliedMigrations.join(", ")}` : ", schema up to date"),
    );
    let model: ModelHost | undefined;
    let embedder: AdapterEmbedder | undefined;
    const embeddings = new EmbeddingStore(catalog.prisma);
    const served = servedModel(config);
    if (served) {
      if (served.zoo) log(`[quiver] no QUIVER_MODEL: serving the model zoo at ${served.zoo.dir} (QUIVER_ZOO=off turns it off)`);
      model = await ModelHost.open(
        { modelDir: served.modelDir, device: config.QUIVER_DEVICE, maxRank: config.QUIVER_MAX_RANK, maxAdapterBytes: config.QUIVER_MAX_ADAPTER_BYTES },
        new ModelStore(catalog.prisma),
        log,
      );
      // Serving the zoo, retrieval runs through the zoo's retriever head unless
      // QUIVER_RETRIEVER_HEAD says otherwise.
      const zooHead = served.zoo && zooRetrieverHead(served.zoo.dir, served.zoo.manifest);
      const encoderConfig = encoderConfigFromEnv(process.env, { headDir: zooHead });
      embedder = await openEmbedder(embeddings, { log, encoderConfig, knownHeads: zooHead ? [zooHead] : [], onActivated: () => services.retriever?.refresh() });
      log(`[quiver] encoder: ${embedder.encoderId}`);
      if (!model.engine.tokenizer) log("[quiver] the model has no tokenizer.json: adapters can be managed, but text generation is off.");
    } else {
      log(
        `[quiver] no QUIVER_MODEL${config.zoo ? ` and no model zoo at ${config.zoo.dir}` : " (QUIVER_ZOO=off)"}: serving the catalog and teams; adapters cannot be added until a model is configured.`,
      );
    }
    // (The re-embedding job calls onActivated long after this line.)
    const services = createServices(config, catalog, { model, embedder, embeddings });
    // Before anything is admitted: this process's instance lock, the generations and adapter
    // versions that stopped processes left running (recovery.ts).
    recovery = await Recovery.start(services, log);
    // New generations wait for the database: refused while it is out of reach (the HTTP gate
    // refuses every request meanwhile; this covers the WebSocket and requests in progress).
    services.generation?.refuseNew(() => (services.database.down ? databaseUnavailable(services.health.problem("database")) : undefined));
    const bootstrap = await bootstrapAdmin(services.identity, config);
    if (bootstrap) {
      log(`[quiver] first start: created the administrator ${bootstrap.email} and the team "Default".`);
      if (bootstrap.generatedPassword) {
        log(`[quiver] generated password (shown once, store it now): ${bootstrap.generatedPassword}`);
      }
    }
    const api = await startApiServer(services, { port: config.PORT, host: config.HOST });
    log(`[quiver] API on ${api.url} (GraphQL ${api.url}/graphql, health ${api.url}/healthz)`);
    // The zoo's adapters join the pool after the API is up: /healthz answers meanwhile.
    const stopZoo = new AbortController();
    const zooRegistration =
      served?.zoo && model && services.pool.available
        ? registerZoo(
            {
              pool: services.pool,
              adapters: services.adapters,
              teams: services.teams,
              baseModelId: model.baseModelId,
              stagingRoot: path.join(config.dataDir, "staging"),
              maxRank: config.QUIVER_MAX_RANK,
            },
            served.zoo,
            log,
            stopZoo.signal,
          )
        : undefined;
    zooRegistration?.catch((err: unknown) => log(`[quiver] zoo: registration stopped: ${(err as Error).message}`));
    let closing: Promise<void> | undefined;
    const shutdown = async (graceSeconds: number) => {
      const generation = services.generation;
      services.health.degrade("shutdown", `shutting down: running generations have ${graceSeconds} s to finish; new ones are refused`);
      generation?.refuseNew(
        () =>
          new QuiverError(
            "SHUTTING_DOWN",
            "The server is shutting down: it finishes the generations it runs and starts no new ones. Try again shortly (another server, or this one once restarted).",
            {
              details: { retryAfterSeconds: 5 },
            },
          ),
      );
      stopZoo.abort();
      await zooRegistration?.catch(() => undefined);
      if (generation) {
        const running = generation.running;
        if (running) log(`[quiver] shutdown: ${running} generations running; waiting up to ${graceSeconds} s for them`);
        const r = await generation.drain(graceSeconds * 1000);
        if (r.ended) log(`[quiver] shutdown: ${r.ended} generations did not finish in time and were ended (finish reason "shutdown")`);
      }
      await api.close();
      await recovery?.stop();
      await services.scheduler?.close();
      await services.pool.idle();
      const left = await services.ledger.flush(SHUTDOWN_FLUSH_MS);
      if (left) {
        log(
          `[quiver] shutdown: the database stayed out of reach; usage of ${left} generations could not be written and is lost: ${JSON.stringify(services.ledger.unwritten())}`,
        );
      }
      services.ledger.close();
      // Held until the usage is written: no other process takes this one's generations for orphans meanwhile.
      await recovery?.close();
      services.database.close();
      services.quotas.close();
      await embedder?.close();
      await model?.close();
      await catalog.close();
    };
    return {
      services,
      api,
      bootstrap,
      zooRegistration,
      close(options = {}) {
        closing ??= shutdown(options.graceSeconds ?? config.QUIVER_SHUTDOWN_GRACE_SECONDS);
        return closing;
      },
    };
  } catch (err) {
    await recovery?.close();
    await catalog.close();
    throw err;
  }
}
