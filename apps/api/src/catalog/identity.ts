// Users, teams, memberships, sessions and API keys: the catalog's identity tables.
import type { Role } from "./generated/enums.js";
import type { PrismaClient } from "./generated/client.js";

export type { Role } from "./generated/enums.js";

export interface UserRecord {
  id: string;
  email: string;
  name: string | null;
  isAdmin: boolean;
  createdAt: Date;
}

export interface MembershipRecord {
  teamId: string;
  teamName: string;
  teamSlug: string;
  role: Role;
}

const userFields = { id: true, email: true, name: true, isAdmin: true, createdAt: true } as const;

export class IdentityStore {
  constructor(private readonly prisma: PrismaClient) {}

  countUsers(): Promise<number> {
    return this.prisma.user.count();
  }

  /** For login only: includes the password hash. */
  findCredentials(email: string) {
    return this.prisma.user.findUnique({
      where: { email: email.toLowerCase() },
      select: { id: true, passwordHash: true, disabledAt: true },
    });
  }

  findUser(id: string): Promise<UserRecord | null> {
    return this.prisma.user.findUnique({ where: { id }, select: userFields });
  }

  async memberships(userId: string): Promise<MembershipRecord[]> {
    const rows = await this.prisma.membership.findMany({
      where: { userId },
      orderBy: { createdAt: "asc" },
      select: { role: true, team: { select: { id: true, name: true, slug: true } } },
    });
    return rows.map((m) => ({ teamId: m.team.id, teamName: m.team.name, teamSlug: m.team.slug, role: m.role }));
  }

  findTeam(id: string) {
    return this.prisma.team.findUnique({ where: { id }, select: { id: true, name: true, slug: true, createdAt: true } });
  }

  createSession(userId: string, tokenHash: string, expiresAt: Date) {
    return this.prisma.session.create({ data: { userId, tokenHash, expiresAt }, select: { id: true, expiresAt: true } });
  }

  /**
   * A live session (not expired, not revoked) of an enabled user, by token hash, with the
   * user's memberships (oldest first). One statement: authentication runs on every operation,
   * and Prisma would load the user, the memberships and their teams with one statement each.
   */
  async findLiveSession(
    tokenHash: string,
    now = new Date(),
  ): Promise<{ id: string; lastUsedAt: Date | null; user: UserRecord; memberships: MembershipRecord[] } | null> {
    // Timestamps are stored as UTC without a zone: EXTRACT(EPOCH ...) reads them as UTC, and
    // an ISO string cast to timestamp drops its "Z", whatever the session's time zone.
    const rows = await this.prisma.$queryRaw<
      {
        id: string;
        lastUsedMs: number | null;
        userId: string;
        email: string;
        name: string | null;
        isAdmin: boolean;
        createdMs: number;
        memberships: MembershipRecord[]; // json, parsed by the driver (PGlite and pg alike)
      }[]
    >`
      SELECT s.id::text AS id, (EXTRACT(EPOCH FROM s."lastUsedAt") * 1000)::float8 AS "lastUsedMs",
        u.id::text AS "userId", u.email, u.name, u."isAdmin", (EXTRACT(EPOCH FROM u."createdAt") * 1000)::float8 AS "createdMs",
        COALESCE((
          SELECT json_agg(json_build_object('teamId', t.id::text, 'teamName', t.name, 'teamSlug', t.slug, 'role', m.role::text)
                          ORDER BY m."createdAt", m.id)
          FROM "Membership" m JOIN "Team" t ON t.id = m."teamId" WHERE m."userId" = u.id
        ), '[]'::json) AS memberships
      FROM "Session" s JOIN "User" u ON u.id = s."userId"
      WHERE s."tokenHash" = ${tokenHash} AND s."revokedAt" IS NULL AND s."expiresAt" > ${now.toISOString()}::timestamp AND u."disabledAt" IS NULL
      LIMIT 1`;
    const r = rows[0];
    if (!r) return null;
    return {
      id: r.id,
      lastUsedAt: r.lastUsedMs === null ? null : new Date(r.lastUsedMs),
      user: { id: r.userId, email: r.email, name: r.name, isAdmin: r.isAdmin, createdAt: new Date(r.createdMs) },
      memberships: r.memberships,
    };
  }

  async touchSession(id: string, now = new Date()): Promise<void> {
    await this.prisma.session.update({ where: { id }, data: { lastUsedAt: now } });
  }

  async revokeSession(id: string, now = new Date()): Promise<void> {
    await this.prisma.session.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: now } });
  }

  /** A live API key (not expired, not revoked), by the hash of the whole key. */
  findLiveApiKey(secretHash: string, now = new Date()) {
    return this.prisma.apiKey.findFirst({
      where: { secretHash, revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
      select: { id: true, teamId: true, role: true, name: true, createdById: true, lastUsedAt: true },
    });
  }

  async touchApiKey(id: string, now = new Date()): Promise<void> {
    await this.prisma.apiKey.update({ where: { id }, data: { lastUsedAt: now } });
  }

  /**
   * Creates the first administrator with a team they own, in one transaction, only while the
   * database has no user at all (so two starts racing cannot create two admins).
   */
  async bootstrapAdmin(input: { email: string; passwordHash: string; teamName: string; teamSlug: string }): Promise<UserRecord | null> {
    return this.prisma.$transaction(async (tx) => {
      if ((await tx.user.count()) > 0) return null;
      const user = await tx.user.create({
        data: { email: input.email.toLowerCase(), passwordHash: input.passwordHash, name: "Administrator", isAdmin: true },
        select: userFields,
      });
      const team = await tx.team.create({ data: { name: input.teamName, slug: input.teamSlug } });
      await tx.membership.create({ data: { userId: user.id, teamId: team.id, role: "OWNER" } });
      await tx.auditLogEntry.create({
        data: { teamId: team.id, actorUserId: user.id, action: "server.bootstrap", targetType: "User", targetId: user.id, metadata: { email: user.email } },
      });
      return user;
    });
  }
}
