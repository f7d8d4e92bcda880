// What each team role may do, to decide which controls a page shows. This mirrors the
// policy table of the API (apps/api/src/auth/policy.ts, `minimumRole`), which the dashboard
// may not import (GraphQL only). The API still decides: a hidden control is a courtesy, a
// refused request is shown where it happened.

export type Role = "OWNER" | "ADMIN" | "MEMBER" | "VIEWER";

export type Action =
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

/** Highest first. */
export const roles: readonly Role[] = ["OWNER", "ADMIN", "MEMBER", "VIEWER"];

const rank: Record<Role, number> = { VIEWER: 1, MEMBER: 2, ADMIN: 3, OWNER: 4 };

const minimumRole: Record<Action, Role> = {
  "adapter.read": "VIEWER",
  "usage.read": "VIEWER",
  "member.read": "VIEWER",
  "adapter.write": "MEMBER",
  generate: "MEMBER",
  "adapter.delete": "ADMIN",
  "member.manage": "ADMIN",
  "apikey.manage": "ADMIN",
  "audit.read": "ADMIN",
  "team.manage": "OWNER",
};

export function can(role: Role | null | undefined, action: Action): boolean {
  return !!role && rank[role] >= rank[minimumRole[action]];
}

/** True when role `a` is above role `b`. */
export function outranks(a: Role, b: Role): boolean {
  return rank[a] > rank[b];
}

/** The roles someone with `role` may grant (to a member, an invitation or an API key). */
export function grantableRoles(role: Role): Role[] {
  return roles.filter((r) => !outranks(r, role));
}

export function roleLabel(role: Role): string {
  return role.charAt(0) + role.slice(1).toLowerCase();
}
