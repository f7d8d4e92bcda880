// Which controls a page shows. What the caller may do in a team comes from the API itself
// (`team(id) { viewerPermissions }`, decided by its policy module), so the dashboard keeps no
// copy of the rules. The API still decides every request: a hidden control is a courtesy, a
// refused request is shown where it happened.

export type Role = "OWNER" | "ADMIN" | "MEMBER" | "VIEWER";

export type Action =
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

/** Highest first (for role pickers; the API refuses grants above one's own role). */
export const roles: readonly Role[] = ["OWNER", "ADMIN", "MEMBER", "VIEWER"];

const rank: Record<Role, number> = { VIEWER: 1, MEMBER: 2, ADMIN: 3, OWNER: 4 };

/** Whether the caller may do `action` in the team, as the API reported it. */
export function can(team: { viewerPermissions: readonly string[] } | null | undefined, action: Action): boolean {
  return !!team && team.viewerPermissions.includes(action);
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
