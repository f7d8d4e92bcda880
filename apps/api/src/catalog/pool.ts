// Registering, versioning, editing and removing adapters. Each change is one transaction, so
// the pool is never half-written: an adapter appears with its first version and samples
// together, and a name is taken once per team (the unique index decides races).
import type { Viewer } from "../auth/policy.js";
import { visibleWhere } from "./scope-sql.js";
import { QuiverError } from "../errors.js";
import { isMissingRecord, isUniqueViolation, isWriteConflict } from "./record-errors.js";
import { audit, type Actor } from "./audit.js";

export type { Actor } from "./audit.js";
import type { Prisma, PrismaClient } from "./generated/client.js";
import type { AdapterStatus, LoraScaling, Visibility } from "./generated/enums.js";

export interface VersionInput {
  rank: number;
  alpha: number;
  scaling: LoraScaling;
  targetModules: string[];
  dtype: string;
  byteSize: number;
  contentHash: string;
  storageUri: string;
}

export interface NewAdapterInput {
  id: string;
  versionId: string;
  teamId: string;
  name: string;
  description: string;
  visibility: Visibility;
  baseModelId: string;
  createdById: string | null;
  samples: string[];
  version: VersionInput;
}

/** An adapter's audit entry. */
function auditAdapter(tx: Prisma.TransactionClient, teamId: string, actor: Actor, action: string, adapterId: string, metadata: Prisma.InputJsonValue = {}) {
  return audit(tx, { teamId, actor, action, targetType: "Adapter", targetId: adapterId, metadata });
}

/**
 * Runs a write transaction. PostgreSQL may abort one of two concurrent transactions on the
 * same rows (deadlock, serialization): it is retried a few times. If the adapter it depends
 * on was deleted meanwhile, NOT_FOUND.
 */
async function guarded<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (isMissingRecord(err)) throw new QuiverError("NOT_FOUND", "No such adapter (it was deleted).");
      if (isWriteConflict(err) && attempt < 5) {
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
        continue;
      }
      throw err;
    }
  }
}

export class PoolStore {
  constructor(private readonly prisma: PrismaClient) {}

  nameTaken(teamId: string, name: string): Promise<boolean> {
    return this.prisma.adapter.count({ where: { teamId, name } }).then((n) => n > 0);
  }

  /** Adds an adapter with version 1 (PENDING) and its samples; its storage reservation (quotas.ts), if any, goes in the same transaction. */
  async createPending(input: NewAdapterInput, actor: Actor, storageReservationId?: string): Promise<{ adapterId: string; versionId: string }> {
    try {
      return await this.prisma.$transaction(async (tx) => {
        await tx.adapter.create({
          data: {
            id: input.id,
            teamId: input.teamId,
            name: input.name,
            description: input.description,
            visibility: input.visibility,
            baseModelId: input.baseModelId,
            createdById: input.createdById,
            status: "PENDING",
            samples: { create: input.samples.map((text, position) => ({ text, position })) },
          },
        });
        const version = await tx.adapterVersion.create({
          data: {
            id: input.versionId,
            adapterId: input.id,
            version: 1,
            status: "PENDING",
            createdById: input.createdById,
            ...input.version,
            byteSize: BigInt(input.version.byteSize),
          },
        });
        await auditAdapter(tx, input.teamId, actor, "adapter.create", input.id, { name: input.name, contentHash: input.version.contentHash });
        if (storageReservationId) await tx.quotaReservation.deleteMany({ where: { id: storageReservationId } });
        return { adapterId: input.id, versionId: version.id };
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new QuiverError("CONFLICT", `An adapter named "${input.name}" already exists in this team.`, { details: { field: "name" } });
      throw err;
    }
  }

  /** Adds the next version (PENDING) of an adapter's weights; its storage reservation (quotas.ts), if any, goes in the same transaction. */
  async addVersion(
    adapterId: string,
    versionId: string,
    createdById: string | null,
    version: VersionInput,
    actor: Actor,
    storageReservationId?: string,
  ): Promise<{ versionId: string; version: number }> {
    return guarded(() =>
      this.prisma.$transaction(async (tx) => {
        const adapter = await tx.adapter.findUniqueOrThrow({ where: { id: adapterId }, select: { teamId: true } });
        const last = await tx.adapterVersion.aggregate({ where: { adapterId }, _max: { version: true } });
        const next = (last._max.version ?? 0) + 1;
        const row = await tx.adapterVersion.create({
          data: { id: versionId, adapterId, version: next, status: "PENDING", createdById, ...version, byteSize: BigInt(version.byteSize) },
        });
        await auditAdapter(tx, adapter.teamId, actor, "adapter.version", adapterId, { version: next, contentHash: version.contentHash });
        if (storageReservationId) await tx.quotaReservation.deleteMany({ where: { id: storageReservationId } });
        return { versionId: row.id, version: next };
      }),
    );
  }

  /** The version becomes the served one; the adapter ACTIVE unless it was disabled. */
  async activateVersion(adapterId: string, versionId: string): Promise<void> {
    await guarded(() =>
      this.prisma.$transaction(async (tx) => {
        await tx.adapterVersion.update({ where: { id: versionId }, data: { status: "ACTIVE", statusReason: null } });
        const a = await tx.adapter.findUniqueOrThrow({ where: { id: adapterId }, select: { status: true } });
        await tx.adapter.update({
          where: { id: adapterId },
          data: { currentVersionId: versionId, ...(a.status === "DISABLED" ? {} : { status: "ACTIVE", statusReason: null }) },
        });
      }),
    );
  }

  /** A version failed after registration; an adapter with no served version fails with it. */
  async failVersion(adapterId: string, versionId: string, reason: string): Promise<void> {
    await guarded(() =>
      this.prisma.$transaction(async (tx) => {
        await tx.adapterVersion.update({ where: { id: versionId }, data: { status: "FAILED", statusReason: reason } });
        const a = await tx.adapter.findUniqueOrThrow({ where: { id: adapterId }, select: { currentVersionId: true } });
        if (!a.currentVersionId) await tx.adapter.update({ where: { id: adapterId }, data: { status: "FAILED", statusReason: reason } });
      }),
    );
  }

  /** An adapter's sample inputs, when the viewer may see the adapter (else none). */
  async samples(viewer: Viewer, adapterId: string): Promise<string[]> {
    const rows = await this.prisma.adapterSample.findMany({
      where: { adapterId, adapter: visibleWhere(viewer) },
      orderBy: { position: "asc" },
      select: { text: true },
    });
    return rows.map((r) => r.text);
  }

  async replaceSamples(adapterId: string, samples: string[], actor: Actor): Promise<void> {
    await guarded(() =>
      this.prisma.$transaction(async (tx) => {
        const a = await tx.adapter.findUniqueOrThrow({ where: { id: adapterId }, select: { teamId: true } });
        await tx.adapterSample.deleteMany({ where: { adapterId } });
        await tx.adapterSample.createMany({ data: samples.map((text, position) => ({ adapterId, text, position })) });
        await auditAdapter(tx, a.teamId, actor, "adapter.samples", adapterId, { count: samples.length });
      }),
    );
  }

  async update(adapterId: string, changes: { description?: string; visibility?: Visibility }, actor: Actor): Promise<void> {
    await guarded(() =>
      this.prisma.$transaction(async (tx) => {
        const a = await tx.adapter.update({ where: { id: adapterId }, data: changes, select: { teamId: true } });
        await auditAdapter(tx, a.teamId, actor, "adapter.update", adapterId, changes);
      }),
    );
  }

  /** DISABLED keeps the adapter but takes it out of retrieval and serving; enabling restores it. */
  async setEnabled(adapterId: string, enabled: boolean, actor: Actor): Promise<AdapterStatus> {
    return guarded(() =>
      this.prisma.$transaction(async (tx) => {
        const a = await tx.adapter.findUniqueOrThrow({ where: { id: adapterId }, select: { teamId: true, status: true, currentVersionId: true } });
        let status: AdapterStatus = a.status;
        if (!enabled) status = "DISABLED";
        else if (a.status === "DISABLED") status = a.currentVersionId ? "ACTIVE" : "PENDING";
        await tx.adapter.update({ where: { id: adapterId }, data: { status, statusReason: enabled ? null : "disabled by a user" } });
        await auditAdapter(tx, a.teamId, actor, enabled ? "adapter.enable" : "adapter.disable", adapterId);
        return status;
      }),
    );
  }

  /** Deletes the adapter (versions, samples, embeddings go with it); returns its files' URIs. */
  async delete(adapterId: string, actor: Actor): Promise<string[]> {
    return guarded(() =>
      this.prisma.$transaction(async (tx) => {
        const a = await tx.adapter.findUnique({ where: { id: adapterId }, select: { teamId: true, name: true, versions: { select: { storageUri: true } } } });
        if (!a) throw new QuiverError("NOT_FOUND", "No such adapter.");
        await tx.adapter.delete({ where: { id: adapterId } });
        await auditAdapter(tx, a.teamId, actor, "adapter.delete", adapterId, { name: a.name });
        return a.versions.map((v) => v.storageUri);
      }),
    );
  }

  /** An adapter's versions, newest first, when the viewer may see the adapter (else none). */
  versions(viewer: Viewer, adapterId: string) {
    return this.prisma.adapterVersion.findMany({
      where: { adapterId, adapter: visibleWhere(viewer) },
      orderBy: { version: "desc" },
      select: {
        id: true,
        version: true,
        status: true,
        statusReason: true,
        rank: true,
        alpha: true,
        scaling: true,
        targetModules: true,
        dtype: true,
        byteSize: true,
        contentHash: true,
        createdAt: true,
      },
    });
  }

  version(versionId: string) {
    return this.prisma.adapterVersion.findUnique({ where: { id: versionId }, select: { id: true, adapterId: true, storageUri: true, status: true } });
  }

  /**
   * Recovery: versions still PENDING (their process stopped before their embedding was
   * stored and the version activated), registered at least `olderThanMs` ago by the
   * database's clock, oldest first, with their adapter's samples and base model.
   */
  async pendingVersions(
    olderThanMs = 0,
  ): Promise<{ versionId: string; adapterId: string; teamId: string; baseModelId: string; samples: string[]; ageMs: number }[]> {
    const rows = await this.prisma.$queryRaw<{ versionId: string; adapterId: string; ageMs: number }[]>`
      SELECT v.id AS "versionId", v."adapterId", (EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - v."createdAt")) * 1000)::float8 AS "ageMs" FROM "AdapterVersion" v
      WHERE v.status = 'PENDING' AND v."createdAt" <= (now() AT TIME ZONE 'UTC') - ${olderThanMs}::float8 * interval '1 millisecond'
      ORDER BY v."createdAt" LIMIT 1000`;
    if (!rows.length) return [];
    const adapters = await this.prisma.adapter.findMany({
      where: { id: { in: [...new Set(rows.map((r) => r.adapterId))] } },
      select: { id: true, teamId: true, baseModelId: true, samples: { orderBy: { position: "asc" }, select: { text: true } } },
    });
    const byId = new Map(adapters.map((a) => [a.id, a]));
    return rows.flatMap((r) => {
      const a = byId.get(r.adapterId);
      return a
        ? [
            {
              versionId: r.versionId,
              adapterId: r.adapterId,
              teamId: a.teamId,
              baseModelId: a.baseModelId,
              samples: a.samples.map((x) => x.text),
              ageMs: r.ageMs,
            },
          ]
        : [];
    });
  }
}
