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
  "member.manage": "ADMIN",
  "apikey.manage": "ADMIN",
  "audit.read": "ADMIN",
  "team.manage": "OWNER",
};

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
