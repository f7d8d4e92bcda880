"use client";
// A labelled role picker offering only the roles the caller may grant.
import { grantableRoles, roleLabel, type Role } from "@/components/auth/permissions";

export function RoleSelect({ id, myRole, value, onChange }: { id: string; myRole: Role; value: Role; onChange(role: Role): void }) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.target.value as Role)}>
      {grantableRoles(myRole).map((r) => (
        <option key={r} value={r}>
          {roleLabel(r)}
        </option>
      ))}
    </select>
  );
}

/** The role a new invitation or key starts with: MEMBER, or the caller's own role if lower. */
export function defaultRole(myRole: Role): Role {
  return grantableRoles(myRole).includes("MEMBER") ? "MEMBER" : myRole;
}
