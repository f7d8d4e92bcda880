import { z } from "zod";
import { QuiverError } from "../../errors.js";
import { passwordRules, verifyPassword } from "../../auth/passwords.js";
import { newSessionToken } from "../../auth/tokens.js";
import { accessChanged } from "../../auth/principal.js";
import { allows, minimumRole, roleIn, type Action } from "../../auth/policy.js";
import type { MembershipRecord, UserRecord } from "../../catalog/identity.js";
import type { Context } from "../context.js";

const loginInput = z.object({
  email: z.string().trim().min(3).max(320).email(),
  password: z.string().min(1).max(passwordRules.maxLength),
});

interface TeamParent {
  id: string;
  name: string;
  slug: string;
}

export const identityResolvers = {
  Query: {
    me: (_: unknown, __: unknown, ctx: Context): UserRecord | null => (ctx.principal?.kind === "user" ? ctx.principal.user : null),
  },
  Mutation: {
    login: async (_: unknown, args: { email: string; password: string }, ctx: Context) => {
      const parsed = loginInput.safeParse(args);
      if (!parsed.success) {
        throw new QuiverError("BAD_USER_INPUT", "Enter a valid email address and a password.", {
          details: { fields: parsed.error.issues.map((i) => i.path.join(".")) },
        });
      }
      const { email, password } = parsed.data;
      // Limited per address and email, per address (spraying) and per email (from many
      // addresses); the password check itself waits for the process's argon2 gate.
      const attempt = ctx.services.loginLimiter.attempt(ctx.clientAddress, email);
      const cred = await ctx.services.identity.findCredentials(email);
      const ok = await verifyPassword(cred && !cred.disabledAt ? cred.passwordHash : undefined, password);
      if (!ok || !cred) throw new QuiverError("UNAUTHENTICATED", "Invalid email or password.");
      attempt.succeeded();
      const { token, hash } = newSessionToken();
      const ttlMs = ctx.services.config.QUIVER_SESSION_TTL_HOURS * 3600_000;
      const session = await ctx.services.identity.createSession(cred.id, hash, new Date(Date.now() + ttlMs));
      const user = await ctx.services.identity.findUser(cred.id);
      ctx.signedInUserId = cred.id;
      return { token, expiresAt: session.expiresAt, user };
    },
    logout: async (_: unknown, __: unknown, ctx: Context) => {
      if (ctx.principal?.kind !== "user") throw new QuiverError("UNAUTHENTICATED", "Only a signed-in session can sign out.");
      await ctx.services.identity.revokeSession(ctx.principal.sessionId);
      accessChanged();
      return true;
    },
  },
  User: {
    memberships: async (user: UserRecord, _: unknown, ctx: Context) => {
      // Only the caller's own memberships are visible: from its principal, or, in the payload
      // of the login that just succeeded, from the catalog.
      let memberships: MembershipRecord[] = [];
      // After login or accepting an invitation the session's snapshot is stale: read afresh.
      if (ctx.signedInUserId === user.id) memberships = await ctx.services.identity.memberships(user.id);
      else if (ctx.principal?.kind === "user" && ctx.principal.user.id === user.id) memberships = ctx.principal.memberships;
      return memberships.map((m) => ({
        role: m.role,
        team: { id: m.teamId, name: m.teamName, slug: m.teamSlug },
      }));
    },
  },
  Team: {
    viewerRole: (team: TeamParent, _: unknown, ctx: Context) => (ctx.principal ? (roleIn(ctx.principal, team.id) ?? null) : null),
    viewerPermissions: (team: TeamParent, _: unknown, ctx: Context) => {
      const p = ctx.principal;
      return (Object.keys(minimumRole) as Action[]).filter((a) => {
        // Team management is for people: the same rule the team resolvers apply to API keys.
        if (p?.kind === "apiKey" && ["member.manage", "apikey.manage", "team.manage"].includes(a)) return false;
        return allows(p, a, team.id);
      });
    },
  },
};
