// Server settings (one row, edited by server administrators): the quotas a new team starts
// with, the caps no team quota may exceed, and whether any signed-in user may create teams.
// Until an administrator first saves them, the environment's values apply (config.ts). Team
// quotas are set here too, by server administrators only, never by the team itself.
import { QuiverError } from "../errors.js";
import type { QuotaValues, ServerSettingsDefaults } from "../config.js";
import type { Prisma, PrismaClient } from "./generated/client.js";
import { audit, type Actor } from "./audit.js";

export type { QuotaValues } from "../config.js";

export interface ServerSettingsRecord extends ServerSettingsDefaults {
  /** When an administrator last saved them; null while the environment's values apply. */
  updatedAt: Date | null;
}

/** A change: an omitted quota keeps its value, null makes it unlimited (or uncapped). */
export type QuotaChanges = Partial<QuotaValues>;

export interface ServerSettingsChanges {
  defaultQuotas?: QuotaChanges;
  maxQuotas?: QuotaChanges;
  teamCreation?: boolean;
}

/** The advisory lock key that orders settings saves against team quota changes. */
const SETTINGS_LOCK = 0x51_5e_77;

const QUOTAS = ["tokensPerDay", "requestsPerMinute", "concurrentGenerations", "storageBytes"] as const;

type Row = Prisma.ServerSettingsGetPayload<object>;

function fromRow(r: Row): ServerSettingsRecord {
  const n = (v: bigint | null) => (v === null ? null : Number(v));
  return {
    defaultQuotas: {
      tokensPerDay: r.defaultTokensPerDay,
      requestsPerMinute: r.defaultRequestsPerMinute,
      concurrentGenerations: r.defaultConcurrent,
      storageBytes: n(r.defaultStorageBytes),
    },
    maxQuotas: {
      tokensPerDay: r.maxTokensPerDay,
      requestsPerMinute: r.maxRequestsPerMinute,
      concurrentGenerations: r.maxConcurrent,
      storageBytes: n(r.maxStorageBytes),
    },
    teamCreation: r.teamCreation,
    updatedAt: r.updatedAt,
  };
}

function toRow(s: ServerSettingsDefaults) {
  const b = (v: number | null) => (v === null ? null : BigInt(v));
  return {
    defaultTokensPerDay: s.defaultQuotas.tokensPerDay,
    defaultRequestsPerMinute: s.defaultQuotas.requestsPerMinute,
    defaultConcurrent: s.defaultQuotas.concurrentGenerations,
    defaultStorageBytes: b(s.defaultQuotas.storageBytes),
    maxTokensPerDay: s.maxQuotas.tokensPerDay,
    maxRequestsPerMinute: s.maxQuotas.requestsPerMinute,
    maxConcurrent: s.maxQuotas.concurrentGenerations,
    maxStorageBytes: b(s.maxQuotas.storageBytes),
    teamCreation: s.teamCreation,
  };
}

/** Team columns for quotas. */
export function teamQuotaColumns(q: QuotaChanges) {
  return {
    ...(q.tokensPerDay !== undefined ? { quotaTokensPerDay: q.tokensPerDay } : {}),
    ...(q.requestsPerMinute !== undefined ? { quotaRequestsPerMinute: q.requestsPerMinute } : {}),
    ...(q.concurrentGenerations !== undefined ? { quotaConcurrent: q.concurrentGenerations } : {}),
    ...(q.storageBytes !== undefined ? { quotaStorageBytes: q.storageBytes === null ? null : BigInt(q.storageBytes) } : {}),
  };
}

/** Quota values above a cap (null, unlimited, is above every cap), as BAD_USER_INPUT naming the field. */
export function assertWithinCaps(values: QuotaChanges, caps: QuotaValues, field: string): void {
  for (const name of QUOTAS) {
    const cap = caps[name];
    const v = values[name];
    if (v === undefined || cap === null) continue;
    if (v === null || v > cap) {
      throw new QuiverError("BAD_USER_INPUT", `${field}.${name} (${v ?? "unlimited"}) is above the server's maximum of ${cap}.`, {
        details: { argument: `${field}.${name}`, field: `${field}.${name}`, maximum: cap },
      });
    }
  }
}

const json = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x))) as Prisma.InputJsonValue;

export class ServerSettingsStore {
  constructor(
    private readonly prisma: PrismaClient,
    /** The environment's settings (config.serverSettings), in force until the row exists. */
    private readonly defaults: ServerSettingsDefaults,
  ) {}

  async get(tx: Prisma.TransactionClient = this.prisma): Promise<ServerSettingsRecord> {
    const row = await tx.serverSettings.findUnique({ where: { id: 1 } });
    return row
      ? fromRow(row)
      : { ...this.defaults, defaultQuotas: { ...this.defaults.defaultQuotas }, maxQuotas: { ...this.defaults.maxQuotas }, updatedAt: null };
  }

  /**
   * Saves a change. Defaults must stay within the caps; every team quota above a cap (or
   * unlimited, where there is a cap) is lowered to it in the same transaction, so no team
   * quota ever exceeds a cap.
   */
  async update(changes: ServerSettingsChanges, actor: Actor & { userId: string }): Promise<ServerSettingsRecord> {
    return this.prisma.$transaction(async (tx) => {
      // Serialises saves with each other and with setTeamQuotas (the row may not exist yet).
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SETTINGS_LOCK}::bigint)`;
      const current = await this.get(tx);
      const next: ServerSettingsDefaults = {
        defaultQuotas: { ...current.defaultQuotas, ...changes.defaultQuotas },
        maxQuotas: { ...current.maxQuotas, ...changes.maxQuotas },
        teamCreation: changes.teamCreation ?? current.teamCreation,
      };
      assertWithinCaps(next.defaultQuotas, next.maxQuotas, "defaultQuotas");
      const data = { ...toRow(next), updatedById: actor.userId };
      const row = await tx.serverSettings.upsert({ where: { id: 1 }, create: { id: 1, ...data }, update: data });
      const clamped: Record<string, number> = {};
      for (const name of QUOTAS) {
        const cap = next.maxQuotas[name];
        if (cap === null) continue;
        const column = Object.keys(teamQuotaColumns({ [name]: 0 }))[0]!;
        const over = { OR: [{ [column]: null }, { [column]: { gt: name === "storageBytes" ? BigInt(cap) : cap } }] } as Prisma.TeamWhereInput;
        const r = await tx.team.updateMany({ where: over, data: teamQuotaColumns({ [name]: cap }) });
        if (r.count) clamped[name] = r.count;
      }
      await audit(tx, {
        teamId: null,
        actor,
        action: "server.settings",
        targetType: "ServerSettings",
        targetId: "1",
        metadata: json({ changes, teamsClamped: clamped }),
      });
      return fromRow(row);
    });
  }

  /** Sets a team's quotas (server administrators only), within the caps; audited in the team's log. */
  async setTeamQuotas(teamId: string, quotas: QuotaChanges, actor: Actor & { userId: string }) {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${SETTINGS_LOCK}::bigint)`;
      assertWithinCaps(quotas, (await this.get(tx)).maxQuotas, "quotas");
      const exists = await tx.team.findUnique({ where: { id: teamId }, select: { id: true } });
      if (!exists) throw new QuiverError("NOT_FOUND", "No such team.");
      const team = await tx.team.update({ where: { id: teamId }, data: teamQuotaColumns(quotas) });
      await audit(tx, { teamId, actor, action: "team.quotas", targetType: "Team", targetId: teamId, metadata: json(quotas) });
      return team;
    });
  }
}
