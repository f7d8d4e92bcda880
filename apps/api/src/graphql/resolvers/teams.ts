import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { authorize, requirePrincipal, roleIn, allows, outranks, scopeFor, isServerAdmin } from "../../auth/policy.js";
import { accessChanged, actorOf, type Principal } from "../../auth/principal.js";
import { hashPassword, passwordRules } from "../../auth/passwords.js";
import { newApiKey, newSessionToken, sha256 } from "../../auth/tokens.js";
import type { Role } from "../../catalog/identity.js";
import { scope, viewer, type Context } from "../context.js";
import { parseArgs } from "./validate.js";

const uuid = z.string().uuid();
const roleSchema = z.enum(["OWNER", "ADMIN", "MEMBER", "VIEWER"]);
const INVITATION_TTL_MS = 7 * 24 * 3600_000;

interface TeamRow {
  id: string;
  name: string;
  slug: string;
  quotaTokensPerDay?: number | null;
  quotaRequestsPerMinute?: number | null;
  quotaConcurrent?: number | null;
  quotaStorageBytes?: bigint | null;
}

/** Team management is done by people: API keys may not manage members, keys or teams. */
function requireUser(p: Principal): Extract<Principal, { kind: "user" }> {
  if (p.kind !== "user") throw new QuiverError("FORBIDDEN", "API keys cannot manage teams, members or keys; sign in as a user.");
  return p;
}

/** Reads a team for a caller who belongs to it; otherwise NOT_FOUND (no existence leak). */
async function visibleTeam(ctx: Context, id: string): Promise<TeamRow> {
  if (!uuid.safeParse(id).success) throw new QuiverError("NOT_FOUND", "No such team.");
  scope(ctx, "team.read", id);
  const team = await ctx.services.teams.get(id);
  if (!team) throw new QuiverError("NOT_FOUND", "No such team.");
  return team;
}

const limit = z
  .number()
  .int()
  .min(0)
  .max(2 ** 31 - 1)
  .nullish();
/** ApiKeyLimitsInput: null removes a limit, omitted keeps it. */
const apiKeyLimitsInput = z.object({ requestsPerMinute: limit, concurrentGenerations: limit, tokensPerDay: limit }).strict();

/** GraphQL leaves omitted fields out and sends null for null: keep that difference. */
function limitChanges(l: z.infer<typeof apiKeyLimitsInput>) {
  return Object.fromEntries(Object.entries(l).filter(([, v]) => v !== undefined)) as { [K in keyof typeof l]?: number | null };
}

function decodeAuditCursor(s: string): { createdAt: Date; id: string } {
  try {
    const [at, id] = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as unknown[];
    const createdAt = new Date(String(at));
    if (typeof id === "string" && uuid.safeParse(id).success && !Number.isNaN(createdAt.getTime())) return { createdAt, id };
  } catch {
    // fall through to the coded error
  }
  throw new QuiverError("BAD_USER_INPUT", "invalid audit log cursor", { details: { argument: "after" } });
}

export const teamResolvers = {
  Query: {
    invitationPreview: async (_: unknown, args: { token: string }, ctx: Context) => {
      if (!/^qi_[A-Za-z0-9_-]{43}$/.test(args.token)) return null;
      const inv = await ctx.services.teams.openInvitationByHash(sha256(args.token));
      return inv ? { email: inv.email, role: inv.role, teamName: inv.team.name, expiresAt: inv.expiresAt } : null;
    },
    teams: async (_: unknown, __: unknown, ctx: Context) => {
      const p = requirePrincipal(ctx.principal);
      const ids = p.kind === "apiKey" ? [p.teamId] : p.memberships.map((m) => m.teamId);
      const teams = await Promise.all(ids.map((id) => ctx.services.teams.get(id)));
      return teams.filter(Boolean);
    },
    team: async (_: unknown, args: { id: string }, ctx: Context) => {
      try {
        return await visibleTeam(ctx, args.id);
      } catch (err) {
        if (err instanceof QuiverError && err.code === "NOT_FOUND") return null;
        throw err;
      }
    },
  },
  Team: {
    quotas: (t: TeamRow, _: unknown, ctx: Context) => {
      // Server administrators set every team's quotas (setTeamQuotas), so they read them too.
      if (!isServerAdmin(ctx.principal)) scopeFor(ctx.principal, t.id, "team.read");
      return {
        tokensPerDay: t.quotaTokensPerDay ?? null,
        requestsPerMinute: t.quotaRequestsPerMinute ?? null,
        concurrentGenerations: t.quotaConcurrent ?? null,
        storageBytes: t.quotaStorageBytes === null || t.quotaStorageBytes === undefined ? null : Number(t.quotaStorageBytes),
      };
    },
    members: async (t: TeamRow, _: unknown, ctx: Context) => {
      const members = await ctx.services.teams.members(scopeFor(ctx.principal, t.id, "member.read"));
      return members.map((m) => ({ role: m.role, joinedAt: m.createdAt, user: { ...m.user, isAdmin: false, createdAt: m.createdAt } }));
    },
    invitations: async (t: TeamRow, _: unknown, ctx: Context) => {
      return ctx.services.teams.invitations(scopeFor(ctx.principal, t.id, "member.manage"));
    },
    apiKeys: async (t: TeamRow, args: { includeRevoked: boolean }, ctx: Context) => {
      return ctx.services.teams.apiKeys(scopeFor(ctx.principal, t.id, "apikey.manage"), args.includeRevoked);
    },
    auditLog: async (t: TeamRow, args: unknown, ctx: Context) => {
      const s = scopeFor(ctx.principal, t.id, "audit.read");
      const { first, after } = parseArgs(z.object({ first: z.number().int().min(1).max(200), after: z.string().max(200).nullish() }), args);
      const rows = await ctx.services.teams.auditLog(s, first, after ? decodeAuditCursor(after) : undefined);
      return rows.map((r) => ({
        ...r,
        cursor: Buffer.from(JSON.stringify([r.createdAt.toISOString(), r.id])).toString("base64url"),
        metadata: JSON.stringify(r.metadata),
        actor: r.actor ? { ...r.actor, name: null, isAdmin: false, createdAt: r.createdAt } : null,
      }));
    },
  },
  ApiKey: {
    createdBy: (k: { createdBy: { id: string; email: string } | null; createdAt: Date }) =>
      k.createdBy ? { ...k.createdBy, name: null, isAdmin: false, createdAt: k.createdAt } : null,
    limits: (k: { limitRequestsPerMinute: number | null; limitConcurrent: number | null; limitTokensPerDay: number | null }) => ({
      requestsPerMinute: k.limitRequestsPerMinute,
      concurrentGenerations: k.limitConcurrent,
      tokensPerDay: k.limitTokensPerDay,
    }),
  },
  Mutation: {
    createTeam: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      const { name, slug } = parseArgs(
        z.object({
          name: z.string().trim().min(1).max(100),
          slug: z.string().regex(/^[a-z0-9][a-z0-9-]{1,48}[a-z0-9]$/, "3-50 lowercase letters, digits and dashes"),
        }),
        args,
      );
      // Server settings: whether anyone may create teams, and the quotas a new team gets.
      const settings = await ctx.services.serverSettings.get();
      if (!settings.teamCreation && !isServerAdmin(p)) {
        throw new QuiverError("FORBIDDEN", "Team creation is turned off on this server: ask a server administrator.", {
          details: { reason: "TEAM_CREATION_DISABLED" },
        });
      }
      const team = await ctx.services.teams.create({ name, slug, ownerId: p.user.id, quotas: settings.defaultQuotas });
      // The rest of this operation sees the caller as the new team's owner (its fields, e.g. quotas).
      ctx.principal = { ...p, memberships: [...p.memberships, { teamId: team.id, teamName: team.name, teamSlug: team.slug, role: "OWNER" }] };
      return team;
    },
    updateTeam: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      // Quotas are not the team's to set: server administrators use setTeamQuotas.
      const { id, name } = parseArgs(z.object({ id: z.string(), name: z.string().trim().min(1).max(100).nullish() }), args);
      await visibleTeam(ctx, id);
      authorize(p, "team.manage", id);
      return ctx.services.teams.update(id, actorOf(p), name ? { name } : {});
    },
    inviteMember: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      const { teamId, email, role } = parseArgs(
        z.object({ teamId: z.string(), email: z.string().trim().toLowerCase().email().max(320), role: roleSchema }),
        args,
      );
      await visibleTeam(ctx, teamId);
      authorize(p, "member.manage", teamId);
      if (outranks(role, roleIn(p, teamId)!)) throw new QuiverError("FORBIDDEN", `You cannot invite with a role above your own (${roleIn(p, teamId)}).`);
      const token = "qi_" + newSessionToken().token.slice(3);
      const invitation = await ctx.services.teams.invite({
        teamId,
        email,
        role,
        tokenHash: sha256(token),
        expiresAt: new Date(Date.now() + INVITATION_TTL_MS),
        actor: { userId: p.user.id },
      });
      return { invitation, token };
    },
    revokeInvitation: async (_: unknown, args: { id: string }, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      viewer(ctx); // a team header must name one of the caller's teams
      const inv = uuid.safeParse(args.id).success ? await ctx.services.teams.getInvitation(args.id) : null;
      if (!inv || !allows(p, "team.read", inv.teamId)) throw new QuiverError("NOT_FOUND", "No such invitation.");
      authorize(p, "member.manage", inv.teamId);
      return ctx.services.teams.revokeInvitation(inv.id, actorOf(p));
    },
    acceptInvitation: async (_: unknown, args: unknown, ctx: Context) => {
      const { token, password, name } = parseArgs(
        z.object({
          token: z.string().regex(/^qi_[A-Za-z0-9_-]{43}$/, "not an invitation token"),
          password: z.string().min(passwordRules.minLength).max(passwordRules.maxLength).nullish(),
          name: z.string().trim().max(100).nullish(),
        }),
        args,
      );
      const p = ctx.principal;
      if (p && p.kind !== "user") throw new QuiverError("FORBIDDEN", "An API key cannot accept invitations.");
      const { userId } = await ctx.services.teams.acceptInvitation({
        tokenHash: sha256(token),
        ...(p ? { existingUserId: p.user.id } : {}),
        ...(password ? { newUser: { name: name ?? null, passwordHash: await hashPassword(password) } } : {}),
      });
      const session = newSessionToken();
      const ttlMs = ctx.services.config.QUIVER_SESSION_TTL_HOURS * 3600_000;
      const created = await ctx.services.identity.createSession(userId, session.hash, new Date(Date.now() + ttlMs));
      ctx.signedInUserId = userId;
      return { token: session.token, expiresAt: created.expiresAt, user: await ctx.services.identity.findUser(userId) };
    },
    changeMemberRole: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      const { teamId, userId, role } = parseArgs(z.object({ teamId: z.string(), userId: uuid, role: roleSchema }), args);
      await visibleTeam(ctx, teamId);
      authorize(p, "member.manage", teamId);
      const mine = roleIn(p, teamId)!;
      const target = await ctx.services.teams.membership(teamId, userId);
      if (!target) throw new QuiverError("NOT_FOUND", "No such member.");
      // Nobody grants a role above their own, nor changes someone who outranks them.
      if (outranks(role, mine) || outranks(target.role, mine)) throw new QuiverError("FORBIDDEN", `Your role (${mine}) cannot make this change.`);
      const m = await ctx.services.teams.changeRole(teamId, userId, role, actorOf(p));
      accessChanged();
      return { role: m.role, joinedAt: m.createdAt, user: { ...m.user, isAdmin: false, createdAt: m.createdAt } };
    },
    removeMember: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      const { teamId, userId } = parseArgs(z.object({ teamId: z.string(), userId: uuid }), args);
      await visibleTeam(ctx, teamId);
      // Anyone may leave a team; removing others needs member.manage and may not reach above.
      if (userId !== p.user.id) {
        authorize(p, "member.manage", teamId);
        const target = await ctx.services.teams.membership(teamId, userId);
        if (!target) throw new QuiverError("NOT_FOUND", "No such member.");
        if (outranks(target.role, roleIn(p, teamId)!)) throw new QuiverError("FORBIDDEN", "You cannot remove a member who outranks you.");
      }
      await ctx.services.teams.removeMember(teamId, userId, actorOf(p));
      accessChanged();
      return true;
    },
    createApiKey: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      const { teamId, name, role, expiresAt, limits } = parseArgs(
        z.object({
          teamId: z.string(),
          name: z.string().trim().min(1).max(100),
          role: roleSchema,
          expiresAt: z.date().nullish(),
          limits: apiKeyLimitsInput.nullish(),
        }),
        args,
      );
      await visibleTeam(ctx, teamId);
      authorize(p, "apikey.manage", teamId);
      const mine: Role = roleIn(p, teamId)!;
      if (outranks(role, mine)) throw new QuiverError("FORBIDDEN", `A key cannot have a role above yours (${mine}).`);
      if (expiresAt && expiresAt <= new Date())
        throw new QuiverError("BAD_USER_INPUT", "expiresAt must be in the future.", { details: { argument: "expiresAt" } });
      const k = newApiKey();
      const apiKey = await ctx.services.teams.createApiKey({
        teamId,
        name,
        role,
        prefix: k.prefix,
        secretHash: k.hash,
        expiresAt: expiresAt ?? null,
        ...(limits ? { limits: limitChanges(limits) } : {}),
        actor: { userId: p.user.id },
      });
      return { apiKey, secret: k.key };
    },
    updateApiKeyLimits: async (_: unknown, args: unknown, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      viewer(ctx); // a team header must name one of the caller's teams
      const { id, limits } = parseArgs(z.object({ id: z.string(), limits: apiKeyLimitsInput }), args);
      const key = uuid.safeParse(id).success ? await ctx.services.teams.getApiKey(id) : null;
      if (!key || !allows(p, "team.read", key.teamId)) throw new QuiverError("NOT_FOUND", "No such API key.");
      authorize(p, "apikey.manage", key.teamId);
      return ctx.services.teams.updateApiKeyLimits(key.id, limitChanges(limits), actorOf(p));
    },
    revokeApiKey: async (_: unknown, args: { id: string }, ctx: Context) => {
      const p = requireUser(requirePrincipal(ctx.principal));
      viewer(ctx); // a team header must name one of the caller's teams
      const key = uuid.safeParse(args.id).success ? await ctx.services.teams.getApiKey(args.id) : null;
      if (!key || !allows(p, "team.read", key.teamId)) throw new QuiverError("NOT_FOUND", "No such API key.");
      authorize(p, "apikey.manage", key.teamId);
      const revoked = await ctx.services.teams.revokeApiKey(key.id, actorOf(p));
      accessChanged();
      return revoked;
    },
  },
};
