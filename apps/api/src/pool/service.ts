// The adapter pool: registration of uploads, new versions of weights, samples, enabling,
// deletion, and the events the dashboard follows. An upload is checked completely (samples,
// PEFT structure, the engine's validation against the base model, the storage quota) before
// anything is registered, so a bad upload leaves nothing behind; the adapter then appears
// PENDING and becomes ACTIVE once its retrieval embedding is stored (or FAILED, with why).
import type { Viewer } from "../auth/policy.js";
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { QuiverError } from "../errors.js";
import { RetrieverError } from "../retriever/errors.js";
import { checkSamples } from "../retriever/adapter-embedding.js";
import type { AdapterStore, AdapterRecord } from "../catalog/adapters.js";
import type { Actor, PoolStore, VersionInput } from "../catalog/pool.js";
import type { QuotaStore } from "../catalog/quotas.js";
import type { ModelHost } from "../model-host.js";
import type { AdapterEmbedder } from "../retrieval-host.js";
import type { AdapterStorage } from "./storage.js";
import type { PoolEvents } from "./events.js";
import { inspectPeftFolder } from "./peft.js";
import { isMissingRecord } from "../catalog/record-errors.js";

export interface PoolDeps {
  store: PoolStore;
  /** The storage quota: an upload's bytes are reserved before its files are stored. */
  quotas: QuotaStore;
  adapters: AdapterStore;
  storage: AdapterStorage;
  events: PoolEvents;
  model: ModelHost | undefined;
  embedder: AdapterEmbedder | undefined;
  maxRank: number;
}

export interface RegisterInput {
  teamId: string;
  name: string;
  description: string;
  visibility: "PRIVATE" | "PUBLIC";
  samples: string[];
  /** A folder holding adapter_config.json and adapter_model.safetensors; consumed. */
  stagingDir: string;
  createdById: string | null;
  actor: Actor;
}

export const ADAPTER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}[a-z0-9]$/;

/** Sample checks as coded API errors (SAMPLES_INVALID, details.reason = the retriever's code). */
export function validateSamples(samples: string[]): void {
  try {
    checkSamples(samples);
    samples.forEach((s, i) => {
      if (s.length > 4000)
        throw new QuiverError("SAMPLES_INVALID", `sample ${i} is longer than 4,000 characters`, { details: { reason: "SAMPLE_TOO_LONG", index: i } });
    });
  } catch (err) {
    if (err instanceof RetrieverError) throw new QuiverError("SAMPLES_INVALID", err.message, { details: { reason: err.code } });
    throw err;
  }
}

export class PoolService {
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly deps: PoolDeps) {}

  get available(): boolean {
    return this.deps.model !== undefined && this.deps.embedder !== undefined;
  }

  private requireModel(): { model: ModelHost; embedder: AdapterEmbedder } {
    if (!this.deps.model)
      throw new QuiverError("MODEL_UNAVAILABLE", "This server has no base model loaded, so it cannot accept adapters.", {
        hint: "Start it with QUIVER_MODEL=<Hugging Face model folder>.",
      });
    if (!this.deps.embedder) throw new QuiverError("MODEL_UNAVAILABLE", "This server has no sentence encoder loaded.");
    return { model: this.deps.model, embedder: this.deps.embedder };
  }

  /** Checks that cost nothing, before an upload's bytes are read. */
  async precheck(input: { teamId: string; name?: string; samples?: string[] }): Promise<void> {
    this.requireModel();
    if (input.name !== undefined) {
      if (!ADAPTER_NAME.test(input.name)) {
        throw new QuiverError(
          "BAD_USER_INPUT",
          "An adapter name is 2-64 lowercase letters, digits, '.', '_' or '-', starting and ending with a letter or digit.",
          { details: { field: "name" } },
        );
      }
      if (await this.deps.store.nameTaken(input.teamId, input.name)) {
        throw new QuiverError("CONFLICT", `An adapter named "${input.name}" already exists in this team.`, { details: { field: "name" } });
      }
    }
    if (input.samples) validateSamples(input.samples);
  }

  /** Structural and engine checks of a staged folder. */
  private async checkWeights(stagingDir: string): Promise<VersionInput & { storageUri: "" }> {
    const { model } = this.requireModel();
    const peft = await inspectPeftFolder(stagingDir, { maxRank: this.deps.maxRank });
    await model.validateAdapter(stagingDir);
    return {
      rank: peft.rank,
      alpha: peft.alpha,
      scaling: peft.scaling,
      targetModules: peft.targetModules,
      dtype: peft.dtype,
      byteSize: peft.byteSize,
      contentHash: peft.contentHash,
      storageUri: "",
    };
  }

  /**
   * Stores checked weights under a storage reservation: the bytes are reserved against the
   * team's quota (atomically, QUOTA_EXCEEDED when they do not fit) before the files are
   * stored, and `register` writes the version and drops the reservation in one transaction.
   * On failure the files and the reservation go.
   */
  private async storeReserved<T>(
    teamId: string,
    key: string,
    stagingDir: string,
    byteSize: number,
    register: (storageUri: string, reservationId: string | undefined) => Promise<T>,
  ): Promise<T> {
    const reservationId = await this.deps.quotas.reserveStorage(teamId, byteSize);
    try {
      const storageUri = await this.deps.storage.put(key, stagingDir);
      try {
        const registered = await register(storageUri, reservationId);
        if (reservationId) this.deps.quotas.settled(reservationId);
        return registered;
      } catch (err) {
        await this.deps.storage.remove(storageUri);
        throw err;
      }
    } catch (err) {
      if (reservationId) await this.deps.quotas.release(reservationId).catch(() => undefined);
      throw err;
    }
  }

  async register(input: RegisterInput): Promise<AdapterRecord> {
    try {
      await this.precheck({ teamId: input.teamId, name: input.name, samples: input.samples });
      const version = await this.checkWeights(input.stagingDir);
      const adapterId = randomUUID();
      const versionId = randomUUID();
      await this.storeReserved(input.teamId, `${adapterId}/${versionId}`, input.stagingDir, version.byteSize, (storageUri, reservationId) =>
        this.deps.store.createPending(
          {
            id: adapterId,
            versionId,
            teamId: input.teamId,
            name: input.name,
            description: input.description,
            visibility: input.visibility,
            baseModelId: this.deps.model!.baseModelId,
            createdById: input.createdById,
            samples: input.samples,
            version: { ...version, storageUri },
          },
          input.actor,
          reservationId,
        ),
      );
      this.deps.events.publish({ kind: "ADDED", adapterId, teamId: input.teamId, visibility: input.visibility });
      this.track(this.embedVersion(adapterId, versionId, input.samples));
      return (await this.deps.adapters.getForSystem([adapterId]))[0]!;
    } finally {
      await rm(input.stagingDir, { recursive: true, force: true });
    }
  }

  /** New weights for an existing adapter: a new version, served once it is ACTIVE. */
  async replaceWeights(adapter: AdapterRecord, stagingDir: string, createdById: string | null, actor: Actor): Promise<AdapterRecord> {
    try {
      const version = await this.checkWeights(stagingDir);
      const versionId = randomUUID();
      await this.storeReserved(adapter.team.id, `${adapter.id}/${versionId}`, stagingDir, version.byteSize, (storageUri, reservationId) =>
        this.deps.store.addVersion(adapter.id, versionId, createdById, { ...version, storageUri }, actor, reservationId),
      );
      // The embedding depends on the samples only, which did not change.
      await this.deps.store.activateVersion(adapter.id, versionId);
      this.deps.events.publish({ kind: "UPDATED", adapterId: adapter.id, teamId: adapter.team.id, visibility: adapter.visibility });
      return (await this.deps.adapters.getForSystem([adapter.id]))[0]!;
    } finally {
      await rm(stagingDir, { recursive: true, force: true });
    }
  }

  /** Replaces the samples; the new embedding is computed before anything is written. */
  async setSamples(adapter: AdapterRecord, samples: string[], actor: Actor): Promise<void> {
    const { embedder } = this.requireModel();
    validateSamples(samples);
    const embedding = await embedder.embed(samples);
    await this.deps.store.replaceSamples(adapter.id, samples, actor);
    try {
      await embedder.store(adapter.id, embedding);
    } catch (err) {
      if (isMissingRecord(err)) throw new QuiverError("NOT_FOUND", "No such adapter (it was deleted).");
      throw err;
    }
    this.deps.events.publish({ kind: "UPDATED", adapterId: adapter.id, teamId: adapter.team.id, visibility: adapter.visibility });
  }

  async update(adapter: AdapterRecord, changes: { description?: string; visibility?: "PRIVATE" | "PUBLIC" }, actor: Actor): Promise<void> {
    await this.deps.store.update(adapter.id, changes, actor);
    const visibility = changes.visibility ?? adapter.visibility;
    this.deps.events.publish({
      kind: "UPDATED",
      adapterId: adapter.id,
      teamId: adapter.team.id,
      visibility,
      ...(visibility !== adapter.visibility ? { previousVisibility: adapter.visibility } : {}),
    });
  }

  async setEnabled(adapter: AdapterRecord, enabled: boolean, actor: Actor): Promise<void> {
    await this.deps.store.setEnabled(adapter.id, enabled, actor);
    this.deps.events.publish({ kind: "UPDATED", adapterId: adapter.id, teamId: adapter.team.id, visibility: adapter.visibility });
  }

  async delete(adapter: AdapterRecord, actor: Actor): Promise<void> {
    const uris = await this.deps.store.delete(adapter.id, actor);
    await Promise.all(uris.map((u) => this.deps.storage.remove(u)));
    this.deps.events.publish({ kind: "REMOVED", adapterId: adapter.id, teamId: adapter.team.id, visibility: adapter.visibility });
  }

  samples(viewer: Viewer, adapterId: string): Promise<string[]> {
    return this.deps.store.samples(viewer, adapterId);
  }

  versions(viewer: Viewer, adapterId: string) {
    return this.deps.store.versions(viewer, adapterId);
  }

  /**
   * Recovery: versions left PENDING by a process that stopped before their embedding was
   * stored are embedded again and activated (in the background, as after an upload). One this
   * server cannot finish (it has no model or encoder, or serves another base model) is left
   * for a server that can until it is `failUnservableAfterMs` old, then FAILED with the
   * reason, so that an adapter does not stay PENDING (holding its name) forever. Returns how
   * many it resumed and failed.
   */
  async recoverPending(options: { olderThanMs?: number; failUnservableAfterMs?: number } = {}): Promise<{ resumed: number; failed: number }> {
    const pending = await this.deps.store.pendingVersions(options.olderThanMs ?? 0);
    let resumed = 0;
    let failed = 0;
    for (const p of pending) {
      if (this.available && p.baseModelId === this.deps.model!.baseModelId) {
        resumed++;
        this.track(this.embedVersion(p.adapterId, p.versionId, p.samples));
        continue;
      }
      if (p.ageMs < (options.failUnservableAfterMs ?? Infinity)) continue;
      const why = this.available ? "it is for another base model than this server's" : "this server has no model and encoder to finish it";
      const ok = await this.deps.store
        .failVersion(p.adapterId, p.versionId, `INTERRUPTED: the server stopped before this version was ready, and ${why}; upload it again`)
        .then(() => true)
        .catch(() => false);
      if (!ok) continue;
      failed++;
      const [adapter] = await this.deps.adapters.getForSystem([p.adapterId]);
      if (adapter) this.deps.events.publish({ kind: "UPDATED", adapterId: adapter.id, teamId: adapter.team.id, visibility: adapter.visibility });
    }
    return { resumed, failed };
  }

  /** Resolves when background embedding work has finished (shutdown, tests). */
  async idle(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  private track(p: Promise<void>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  private async embedVersion(adapterId: string, versionId: string, samples: string[]): Promise<void> {
    const { embedder } = this.requireModel();
    const [adapter] = await this.deps.adapters.getForSystem([adapterId]);
    if (!adapter) return;
    try {
      await embedder.embedAndStore(adapterId, samples);
      await this.deps.store.activateVersion(adapterId, versionId);
    } catch (err) {
      const reason = err instanceof QuiverError || err instanceof RetrieverError ? `${err.code}: ${err.message}` : "embedding failed (see the server log)";
      if (!(err instanceof QuiverError || err instanceof RetrieverError)) console.error("[pool] embedding failed:", err);
      // The adapter may have been deleted meanwhile; then there is nothing to mark.
      await this.deps.store.failVersion(adapterId, versionId, reason).catch(() => undefined);
    }
    this.deps.events.publish({ kind: "UPDATED", adapterId, teamId: adapter.team.id, visibility: adapter.visibility });
  }
}
