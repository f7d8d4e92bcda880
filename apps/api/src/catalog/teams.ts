// Teams, memberships, invitations, API keys and the audit log. Every change that grants or
// removes access writes its audit entry in the same transaction.
import { requireAction, rolesAbove, type TeamScope } from "../auth/policy.js";
import { QuiverError } from "../errors.js";
import type { Prisma, PrismaClient } from "./generated/client.js";
import type { Role } from "./generated/enums.js";
import { audit, type Actor } from "./audit.js";
import { teamQuotaColumns, type QuotaValues } from "./server-settings.js";
import { isUniqueViolation } from "./record-errors.js";

export type { Actor } from "./audit.js";

type Tx = Prisma.TransactionClient;

const memberFields = {
  role: true,
  createdAt: true,
  user: { select: { id: true, email: true, name: true } },
} satisfies Prisma.MembershipSelect;

const apiKeyFields = {
  id: true,
  teamId: true,
  name: true,
  prefix: true,
  role: true,
  createdAt: true,
  lastUsedAt: true,
  expiresAt: true,
  revokedAt: true,
  limitRequestsPerMinute: true,
  limitConcurrent: true,
  limitTokensPerDay: true,
  createdBy: { select: { id: true, email: true } },
} satisfies Prisma.ApiKeySelect;

const invitationFields = {
  id: true,
  teamId: true,
  email: true,
  role: true,
  createdAt: true,
  expiresAt: true,
  acceptedAt: true,
  revokedAt: true,
} satisfies Prisma.InvitationSelect;

export type MemberRecord = Prisma.MembershipGetPayload<{ select: typeof memberFields }>;
export type ApiKeyRecord = Prisma.ApiKeyGetPayload<{ select: typeof apiKeyFields }>;
export type InvitationRecord = Prisma.InvitationGetPayload<{ select: typeof invitationFields }>;

/** Limits a team sets on one of its API keys (null: none; omitted: unchanged). */
export interface ApiKeyLimits {
  requestsPerMinute?: number | null;
  concurrentGenerations?: number | null;
  tokensPerDay?: number | null;
}

function apiKeyLimitColumns(l: ApiKeyLimits) {
  return {
    ...(l.requestsPerMinute !== undefined ? { limitRequestsPerMinute: l.requestsPerMinute } : {}),
    ...(l.concurrentGenerations !== undefined ? { limitConcurrent: l.concurrentGenerations } : {}),
    ...(l.tokensPerDay !== undefined ? { limitTokensPerDay: l.tokensPerDay } : {}),
  };
}

export class TeamStore {
  constructor(private readonly prisma: PrismaClient) {}

  get(teamId: string) {
    return this.prisma.team.findUnique({ where: { id: teamId } });
  }

  /** The oldest team: the "Default" team the first start created. */
  first() {
    return this.prisma.team.findFirst({ orderBy: [{ createdAt: "asc" }, { id: "asc" }], select: { id: true, name: true } });
  }

  /** Creates a team with its owner; `quotas`: the server's defaults for new teams. */
  async create(input: { name: string; slug: string; ownerId: string; quotas?: QuotaValues }) {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const team = await tx.team.create({ data: { name: input.name, slug: input.slug, ...teamQuotaColumns(input.quotas ?? {}) } });
        await tx.membership.create({ data: { teamId: team.id, userId: input.ownerId, role: "OWNER" } });
        await audit(tx, {
          teamId: team.id,
          actor: { userId: input.ownerId },
          action: "team.create",
          targetType: "Team",
          targetId: team.id,
          metadata: { slug: input.slug, ...(input.quotas ? { quotas: { ...input.quotas } } : {}) },
        });
        return team;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new QuiverError("CONFLICT", `A team with the slug "${input.slug}" already exists.`);
      throw err;
    }
  }

  /** Renames a team (its quotas are the server administrators': ServerSettingsStore.setTeamQuotas). */
  async update(teamId: string, actor: Actor, changes: { name?: string }) {
    return this.prisma.$transaction(async (tx) => {
      const team = await tx.team.update({ where: { id: teamId }, data: changes });
      await audit(tx, {
        teamId,
        actor,
        action: "team.update",
        targetType: "Team",
        targetId: teamId,
        metadata: JSON.parse(JSON.stringify(changes, (_k, v) => (typeof v === "bigint" ? v.toString() : v))) as Prisma.InputJsonValue,
      });
      return team;
    });
  }

  members(scope: TeamScope): Promise<MemberRecord[]> {
    requireAction(scope, "member.read");
    return this.prisma.membership.findMany({ where: { teamId: scope.teamId }, orderBy: { createdAt: "asc" }, select: memberFields });
  }

  membership(teamId: string, userId: string) {
    return this.prisma.membership.findUnique({ where: { userId_teamId: { userId, teamId } }, select: memberFields });
  }

  /** Changes a member's role; the team always keeps at least one OWNER. */
  async changeRole(teamId: string, userId: string, role: Role, actor: Actor): Promise<MemberRecord> {
    return this.prisma.$transaction(async (tx) => {
      const current = await tx.membership.findUnique({ where: { userId_teamId: { userId, teamId } } });
      if (!current) throw new QuiverError("NOT_FOUND", "No such member.");
      if (current.role === "OWNER" && role !== "OWNER") await this.assertAnotherOwner(tx, teamId, userId);
      const updated = await tx.membership.update({ where: { id: current.id }, data: { role }, select: memberFields });
      // A demoted member's keys in this team are capped at the new role: a key never holds
      // more than the member who made it.
      const above = rolesAbove(role);
      const capped = above.length
        ? await tx.apiKey.updateMany({ where: { teamId, createdById: userId, revokedAt: null, role: { in: above } }, data: { role } })
        : { count: 0 };
      await audit(tx, {
        teamId,
        actor,
        action: "member.role",
        targetType: "User",
        targetId: userId,
        metadata: { email: updated.user.email, from: current.role, to: role, keysCapped: capped.count },
      });
      return updated;
    });
  }

  async removeMember(teamId: string, userId: string, actor: Actor): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      const current = await tx.membership.findUnique({ where: { userId_teamId: { userId, teamId } }, include: { user: { select: { email: true } } } });
      if (!current) throw new QuiverError("NOT_FOUND", "No such member.");
      if (current.role === "OWNER") await this.assertAnotherOwner(tx, teamId, userId);
      await tx.membership.delete({ where: { id: current.id } });
      // A removed member's keys in this team stop working with their access.
      await tx.apiKey.updateMany({ where: { teamId, createdById: userId, revokedAt: null }, data: { revokedAt: new Date() } });
      await audit(tx, {
        teamId,
        actor,
        action: "member.remove",
        targetType: "User",
        targetId: userId,
        metadata: { email: current.user.email, role: current.role },
      });
    });
  }

  private async assertAnotherOwner(tx: Tx, teamId: string, userId: string): Promise<void> {
    const others = await tx.membership.count({ where: { teamId, role: "OWNER", userId: { not: userId } } });
    if (others === 0) throw new QuiverError("CONFLICT", "A team needs at least one owner: make someone else owner first.");
  }

  // --- invitations -------------------------------------------------------------------

  async invite(input: {
    teamId: string;
    email: string;
    role: Role;
    tokenHash: string;
    expiresAt: Date;
    actor: Actor & { userId: string };
  }): Promise<InvitationRecord> {
    return this.prisma.$transaction(async (tx) => {
      const existing = await tx.membership.findFirst({ where: { teamId: input.teamId, user: { email: input.email } } });
      if (existing) throw new QuiverError("CONFLICT", `${input.email} is already a member of this team.`);
      // A new invitation replaces any open one for the same address.
      await tx.invitation.updateMany({
        where: { teamId: input.teamId, email: input.email, acceptedAt: null, revokedAt: null },
        data: { revokedAt: new Date() },
      });
      const inv = await tx.invitation.create({
        data: {
          teamId: input.teamId,
          email: input.email,
          role: input.role,
          tokenHash: input.tokenHash,
          expiresAt: input.expiresAt,
          createdById: input.actor.userId,
        },
        select: invitationFields,
      });
      await audit(tx, {
        teamId: input.teamId,
        actor: input.actor,
        action: "invitation.create",
        targetType: "Invitation",
        targetId: inv.id,
        metadata: { email: input.email, role: input.role },
      });
      return inv;
    });
  }

  invitations(scope: TeamScope): Promise<InvitationRecord[]> {
    requireAction(scope, "member.manage");
    return this.prisma.invitation.findMany({
      where: { teamId: scope.teamId, acceptedAt: null, revokedAt: null, expiresAt: { gt: new Date() } },
      orderBy: { createdAt: "desc" },
      select: invitationFields,
    });
  }

  /** An open invitation by its token hash, with the team's name (for the accept page). */
  openInvitationByHash(tokenHash: string) {
    return this.prisma.invitation.findFirst({
      where: { tokenHash, acceptedAt: null, revokedAt: null, expiresAt: { gt: new Date() } },
      select: { email: true, role: true, expiresAt: true, team: { select: { id: true, name: true, slug: true } } },
    });
  }

  getInvitation(id: string) {
    return this.prisma.invitation.findUnique({ where: { id }, select: invitationFields });
  }

  async revokeInvitation(id: string, actor: Actor): Promise<InvitationRecord> {
    return this.prisma.$transaction(async (tx) => {
      const inv = await tx.invitation.update({ where: { id }, data: { revokedAt: new Date() }, select: invitationFields });
      await audit(tx, { teamId: inv.teamId, actor, action: "invitation.revoke", targetType: "Invitation", targetId: id });
      return inv;
    });
  }

  /**
   * Accepts an open invitation: joins the existing user with that email (`existingUserId`), or
   * creates the user with `newUser`. Returns the user's id and the team.
   */
  async acceptInvitation(input: {
    tokenHash: string;
    existingUserId?: string;
    newUser?: { name: string | null; passwordHash: string };
  }): Promise<{ userId: string; teamId: string }> {
    return this.prisma.$transaction(async (tx) => {
      const inv = await tx.invitation.findUnique({ where: { tokenHash: input.tokenHash } });
      if (!inv || inv.acceptedAt || inv.revokedAt || inv.expiresAt <= new Date()) {
        throw new QuiverError("NOT_FOUND", "This invitation is invalid, used, revoked or expired.");
      }
      let userId: string;
      const user = await tx.user.findUnique({ where: { email: inv.email } });
      if (user) {
        if (input.existingUserId !== user.id) {
          throw new QuiverError("UNAUTHENTICATED", `This invitation is for ${inv.email}: sign in as that user to accept it.`);
        }
        userId = user.id;
      } else {
        if (!input.newUser) throw new QuiverError("BAD_USER_INPUT", "Choose a password to create your account.");
        userId = (await tx.user.create({ data: { email: inv.email, name: input.newUser.name, passwordHash: input.newUser.passwordHash } })).id;
      }
      const member = await tx.membership.findUnique({ where: { userId_teamId: { userId, teamId: inv.teamId } } });
      if (!member) await tx.membership.create({ data: { userId, teamId: inv.teamId, role: inv.role } });
      await tx.invitation.update({ where: { id: inv.id }, data: { acceptedAt: new Date() } });
      await audit(tx, {
        teamId: inv.teamId,
        actor: { userId },
        action: "invitation.accept",
        targetType: "Invitation",
        targetId: inv.id,
        metadata: { role: inv.role },
      });
      return { userId, teamId: inv.teamId };
    });
  }

  // --- API keys ----------------------------------------------------------------------

  async createApiKey(input: {
    teamId: string;
    name: string;
    role: Role;
    prefix: string;
    secretHash: string;
    expiresAt: Date | null;
    limits?: ApiKeyLimits;
    actor: Actor & { userId: string };
  }): Promise<ApiKeyRecord> {
    return this.prisma.$transaction(async (tx) => {
      const key = await tx.apiKey.create({
        data: {
          teamId: input.teamId,
          name: input.name,
          role: input.role,
          prefix: input.prefix,
          secretHash: input.secretHash,
          expiresAt: input.expiresAt,
          createdById: input.actor.userId,
          ...apiKeyLimitColumns(input.limits ?? {}),
        },
        select: apiKeyFields,
      });
      await audit(tx, {
        teamId: input.teamId,
        actor: input.actor,
        action: "apikey.create",
        targetType: "ApiKey",
        targetId: key.id,
        metadata: { name: input.name, role: input.role, prefix: input.prefix, ...(input.limits ? { limits: { ...input.limits } } : {}) },
      });
      return key;
    });
  }

  /** Changes an API key's limits (quotas.ts enforces them with the team's). */
  async updateApiKeyLimits(id: string, limits: ApiKeyLimits, actor: Actor): Promise<ApiKeyRecord> {
    return this.prisma.$transaction(async (tx) => {
      const key = await tx.apiKey.update({ where: { id }, data: apiKeyLimitColumns(limits), select: apiKeyFields });
      await audit(tx, { teamId: key.teamId, actor, action: "apikey.limits", targetType: "ApiKey", targetId: id, metadata: { prefix: key.prefix, ...limits } });
      return key;
    });
  }

  apiKeys(scope: TeamScope, includeRevoked: boolean): Promise<ApiKeyRecord[]> {
    requireAction(scope, "apikey.manage");
    return this.prisma.apiKey.findMany({
      where: { teamId: scope.teamId, ...(includeRevoked ? {} : { revokedAt: null }) },
      orderBy: { createdAt: "desc" },
      select: apiKeyFields,
    });
  }

  getApiKey(id: string) {
    return this.prisma.apiKey.findUnique({ where: { id }, select: apiKeyFields });
  }

  async revokeApiKey(id: string, actor: Actor): Promise<ApiKeyRecord> {
    return this.prisma.$transaction(async (tx) => {
      const key = await tx.apiKey.findUniqueOrThrow({ where: { id } });
      const updated = key.revokedAt
        ? await tx.apiKey.findUniqueOrThrow({ where: { id }, select: apiKeyFields })
        : await tx.apiKey.update({ where: { id }, data: { revokedAt: new Date() }, select: apiKeyFields });
      if (!key.revokedAt)
        await audit(tx, { teamId: key.teamId, actor, action: "apikey.revoke", targetType: "ApiKey", targetId: id, metadata: { prefix: key.prefix } });
      return updated;
    });
  }

  // --- audit log ---------------------------------------------------------------------

  /** Newest first; `after` = the (createdAt, id) of the last entry of the previous page. */
  auditLog(scope: TeamScope, first: number, after?: { createdAt: Date; id: string }) {
    requireAction(scope, "audit.read");
    return this.prisma.auditLogEntry.findMany({
      where: {
        teamId: scope.teamId,
        ...(after ? { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] } : {}),
      },
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: first,
      select: {
        id: true,
        action: true,
        targetType: true,
        targetId: true,
        metadata: true,
        createdAt: true,
        actor: { select: { id: true, email: true } },
        actorKey: { select: { id: true, name: true, prefix: true } },
      },
    });
  }
}
