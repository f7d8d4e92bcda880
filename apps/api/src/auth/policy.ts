// The one place that decides permissions. Every resolver and HTTP route asks `authorize`
// (or `roleIn`) before it reads or writes team data.
import { QuiverError } from "../errors.js";
import type { Principal } from "./principal.js";
import type { Role } from "../catalog/identity.js";

export type Action =
  | "team.read"
  | "adapter.read"
  | "adapter.write"
  | "adapter.delete"
  | "adapter.publish"
  | "pool.manage"
  | "generate"
  | "usage.read"
  | "member.read"
  | "member.manage"
  | "apikey.manage"
  | "audit.read"
  | "team.manage";

const rank: Record<Role, number> = { VIEWER: 1, MEMBER: 2, ADMIN: 3, OWNER: 4 };

/** The least role that may perform each action within a team. */
export const minimumRole: Record<Action, Role> = {
  "team.read": "VIEWER",
  "adapter.read": "VIEWER",
  "usage.read": "VIEWER",
  "member.read": "VIEWER",
  generate: "MEMBER",
  "adapter.write": "MEMBER",
  "adapter.delete": "ADMIN",
  "adapter.publish": "ADMIN",
  "pool.manage": "ADMIN",
  "member.manage": "ADMIN",
  "apikey.manage": "ADMIN",
  "audit.read": "ADMIN",
  "team.manage": "OWNER",
};

/** The roles above `role`, highest first. */
export function rolesAbove(role: Role): Role[] {
  return (Object.keys(rank) as Role[]).filter((r) => rank[r] > rank[role]).sort((a, b) => rank[b] - rank[a]);
}

/** True when role `a` is above role `b`. */
export function outranks(a: Role, b: Role): boolean {
  return rank[a] > rank[b];
}

/** The principal's role in a team, if any. An API key acts only within its own team. */
export function roleIn(principal: Principal, teamId: string): Role | undefined {
  if (principal.kind === "apiKey") return principal.teamId === teamId ? principal.role : undefined;
  return principal.memberships.find((m) => m.teamId === teamId)?.role;
}

export function allows(principal: Principal | undefined, action: Action, teamId: string): boolean {
  if (!principal) return false;
  const role = roleIn(principal, teamId);
  return role !== undefined && rank[role] >= rank[minimumRole[action]];
}

/**
 * Throws unless the principal may perform `action` in `teamId`. A team the caller does not
 * belong to is reported as not found, so that denials do not reveal which teams exist.
 */
export function authorize(principal: Principal | undefined, action: Action, teamId: string): void {
  if (!principal) throw new QuiverError("UNAUTHENTICATED", "Sign in or send an API key.");
  if (allows(principal, action, teamId)) return;
  if (roleIn(principal, teamId) === undefined) throw new QuiverError("NOT_FOUND", "No such team.");
  throw new QuiverError("FORBIDDEN", `Your role may not do this (${action} needs ${minimumRole[action]} or above).`);
}

export function requirePrincipal(principal: Principal | undefined): Principal {
  if (!principal) throw new QuiverError("UNAUTHENTICATED", "Sign in or send an API key.");
  return principal;
}

// ---------------------------------------------------------------------------------------
// The gate: a request's scope, resolved once, here
// ---------------------------------------------------------------------------------------
//
// Every catalog read that returns adapters, samples, generations, usage or keys takes a
// Viewer or a TeamScope, and only this module makes them (the brand below is not exported;
// lint refuses `as Viewer` / `as TeamScope` elsewhere). Visibility is defined once:
//   an adapter is VISIBLE to a viewer when its team is one the viewer reads, or it is PUBLIC
//     (the catalogue of public adapters: name, description, samples, config);
//   an adapter is in a team's POOL (retrieval, model "auto", name lookups, pinned ids,
//     neighbours, the pool map) when it is ACTIVE and the team's own, or PUBLIC and added to
//     the team's pool by its ADMIN or OWNER.
// The catalog turns these two rules into SQL (catalog/scope-sql.ts); `canSee` below is the
// same rule for records already in memory (live events).

declare const gated: unique symbol;

/** Who asks, as the gate resolved it. */
export interface Viewer {
  readonly principal: Principal;
  /** Teams whose private adapters, samples and generations the caller may read. */
  readonly readableTeamIds: readonly string[];
  readonly [gated]: true;
}

/** A viewer acting in one team it belongs to, with the role it has there. */
export interface TeamScope extends Viewer {
  readonly teamId: string;
  readonly role: Role;
}

/** Offline tools (evaluations, benchmarks, start-up registration) name a team's pool directly. */
export interface OfflinePool {
  readonly teamId: string;
  readonly offline: true;
}

/** Whose pool a search runs in. */
export type PoolOwner = TeamScope | OfflinePool;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function teamsReadable(p: Principal): string[] {
  if (p.kind === "apiKey") return rank[p.role] >= rank[minimumRole["adapter.read"]] ? [p.teamId] : [];
  return p.memberships.filter((m) => rank[m.role] >= rank[minimumRole["adapter.read"]]).map((m) => m.teamId);
}

/**
 * The caller as a viewer: what it may read across the teams it belongs to. A team header
 * (X-Quiver-Team, connectionParams.team) that names a team the caller is not in is refused,
 * also where the operation itself names no team.
 */
export function viewerOf(principal: Principal | undefined, header?: string | null): Viewer {
  if (header) resolveScope(principal, { header }, "team.read");
  const p = requirePrincipal(principal);
  return { principal: p, readableTeamIds: teamsReadable(p) } as unknown as Viewer;
}

/** The team a caller acts in when none is named: an API key's team, else the user's oldest membership. */
export function defaultTeamId(principal: Principal): string | undefined {
  return principal.kind === "apiKey" ? principal.teamId : principal.memberships[0]?.teamId;
}

/**
 * The one place a team is resolved for a request. `argument` is a team named by a GraphQL or
 * form argument, `header` the X-Quiver-Team header (or connectionParams.team); without either,
 * the default team. Every team named must be one the caller belongs to (NOT_FOUND otherwise,
 * so that denials do not reveal which teams exist), and its role there must allow `action`.
 */
export function resolveScope(principal: Principal | undefined, named: { argument?: string | null; header?: string | null }, action: Action): TeamScope {
  const p = requirePrincipal(principal);
  for (const t of [named.header, named.argument]) {
    if (t !== undefined && t !== null && t !== "" && (!UUID.test(t) || roleIn(p, t) === undefined)) throw new QuiverError("NOT_FOUND", "No such team.");
  }
  const teamId = named.argument || named.header || defaultTeamId(p);
  if (!teamId) throw new QuiverError("NOT_FOUND", "You belong to no team yet.");
  authorize(p, action, teamId);
  return { principal: p, readableTeamIds: teamsReadable(p), teamId, role: roleIn(p, teamId)! } as unknown as TeamScope;
}

/** A scope in a team the caller must belong to (a Team object's own fields, an adapter's team). */
export function scopeFor(principal: Principal | undefined, teamId: string, action: Action): TeamScope {
  return resolveScope(principal, { argument: teamId }, action);
}

/** Throws unless the scope's role allows `action` (catalog reads of keys, members, audit check this). */
export function requireAction(scope: TeamScope, action: Action): void {
  authorize(scope.principal, action, scope.teamId);
}

/** The visibility rule for a record in memory; the catalog's SQL applies the same rule. */
export function canSee(viewer: Viewer, adapter: { teamId: string; visibility: string }): boolean {
  return adapter.visibility === "PUBLIC" || viewer.readableTeamIds.includes(adapter.teamId);
}

/**
 * The scope to change an adapter in: NOT_FOUND when the caller cannot see it, FORBIDDEN when
 * it can (a public adapter) but it is not its team's, or its role there does not allow `action`.
 */
export function scopeForAdapter(viewer: Viewer, adapter: { teamId: string; visibility: string }, action: Action): TeamScope {
  if (!canSee(viewer, adapter)) throw new QuiverError("NOT_FOUND", "No such adapter.");
  if (roleIn(viewer.principal, adapter.teamId) === undefined) throw new QuiverError("FORBIDDEN", "Only the adapter's team may change it.");
  return scopeFor(viewer.principal, adapter.teamId, action);
}

/**
 * A generation's stream, output and cancellation belong to whoever started it (the same user,
 * or the same API key) and to its team's ADMIN and OWNER.
 */
export function ownsGeneration(viewer: Viewer, g: { teamId: string; userId: string | null; apiKeyId: string | null }): boolean {
  const p = viewer.principal;
  if (!viewer.readableTeamIds.includes(g.teamId)) return false;
  if (p.kind === "user" ? g.userId === p.user.id : g.apiKeyId === p.keyId) return true;
  const role = roleIn(p, g.teamId);
  return role !== undefined && rank[role] >= rank.ADMIN;
}

/** For offline tools only (lint keeps it out of the request path). */
export function offlinePool(teamId: string): OfflinePool {
  return { teamId, offline: true };
}

/** A server administrator (User.isAdmin, such as the bootstrap admin): a signed-in user, never an API key. */
export function isServerAdmin(principal: Principal | undefined): boolean {
  return principal?.kind === "user" && principal.user.isAdmin;
}

/** Server settings and team quotas are for server administrators only: FORBIDDEN otherwise. */
export function requireServerAdmin(principal: Principal | undefined): Extract<Principal, { kind: "user" }> {
  const p = requirePrincipal(principal);
  if (p.kind !== "user" || !p.user.isAdmin) throw new QuiverError("FORBIDDEN", "Only a server administrator may do this.");
  return p;
}
