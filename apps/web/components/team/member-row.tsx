"use client";
// One member: their role (a select when the caller may change it) and remove/leave. The API
// refuses grants above the caller's role and removing or demoting the last owner; those
// refusals are shown in this row (role) or in the confirmation dialog (removal).
import { useEffect, useState } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { can, grantableRoles, outranks, roleLabel, type Role } from "@/components/auth/permissions";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { useTeam } from "@/components/shell/team-context";
import { formatDateTime } from "@/components/ui/format";
import { InlineError } from "@/components/ui/states";

export interface MemberView {
  role: Role;
  joinedAt: string;
  user: { id: string; email: string; name: string | null };
}

const CHANGE_ROLE = /* GraphQL */ `
  mutation ChangeMemberRole($teamId: ID!, $userId: ID!, $role: Role!) {
    changeMemberRole(teamId: $teamId, userId: $userId, role: $role) {
      role
    }
  }
`;

const REMOVE = /* GraphQL */ `
  mutation RemoveMember($teamId: ID!, $userId: ID!) {
    removeMember(teamId: $teamId, userId: $userId)
  }
`;

interface Props {
  member: MemberView;
  teamId: string;
  teamName: string;
  myRole: Role;
  myUserId: string;
  /** Called after a change; `self` when the caller changed their own membership. */
  onChanged(self: boolean): void;
}

export function MemberRow({ member, teamId, teamName, myRole, myUserId, onChanged }: Props) {
  const self = member.user.id === myUserId;
  const { team } = useTeam();
  const manageable = can(team, "member.manage") && !outranks(member.role, myRole);
  const changeRole = useMutation<{ changeMemberRole: { role: Role } }>(CHANGE_ROLE);
  const remove = useMutation<{ removeMember: boolean }>(REMOVE);
  const [confirming, setConfirming] = useState(false);
  // The role being saved shows in the select until the reloaded list confirms it.
  const [pending, setPending] = useState<Role | null>(null);
  const errorId = `member-error-${member.user.id}`;

  useEffect(() => {
    if (pending === member.role) setPending(null);
  }, [pending, member.role]);

  async function setRole(role: Role) {
    setPending(role);
    if (await changeRole.run({ teamId, userId: member.user.id, role })) onChanged(self);
    else setPending(null);
  }

  async function confirmRemove() {
    if (await remove.run({ teamId, userId: member.user.id })) {
      setConfirming(false);
      onChanged(self);
    }
  }

  const who = member.user.name ? `${member.user.name} (${member.user.email})` : member.user.email;
  return (
    <tr data-testid="member-row" data-email={member.user.email}>
      <td data-label="Member">
        <div>
          <span className="strong">{member.user.email}</span>
          {self && <span className="badge">you</span>}
          {member.user.name && <span className="muted block">{member.user.name}</span>}
        </div>
      </td>
      <td data-label="Role">
        <div>
          {manageable ? (
            <select
              aria-label={`Role of ${member.user.email}`}
              aria-describedby={changeRole.error ? errorId : undefined}
              value={pending ?? member.role}
              disabled={changeRole.busy}
              onChange={(e) => void setRole(e.target.value as Role)}
            >
              {grantableRoles(myRole).map((r) => (
                <option key={r} value={r}>
                  {roleLabel(r)}
                </option>
              ))}
            </select>
          ) : (
            <span className={`badge role ${member.role}`}>{roleLabel(member.role)}</span>
          )}
          <InlineError error={changeRole.error} id={errorId} />
        </div>
      </td>
      <td data-label="Joined">{formatDateTime(member.joinedAt)}</td>
      <td data-label="Actions" className="actions-cell">
        {(self || manageable) && (
          <button
            type="button"
            className="secondary small danger-text"
            onClick={() => {
              remove.reset();
              setConfirming(true);
            }}
          >
            {self ? "Leave team" : "Remove"}
          </button>
        )}
        <ConfirmDialog
          open={confirming}
          title={self ? `Leave ${teamName}?` : `Remove ${member.user.email}?`}
          confirmLabel={self ? "Leave team" : "Remove member"}
          busy={remove.busy}
          error={remove.error}
          onConfirm={() => void confirmRemove()}
          onCancel={() => setConfirming(false)}
        >
          <p>
            {self
              ? "You lose access to this team's adapters, usage and keys. API keys you created in this team are revoked."
              : `${who} loses access to this team. API keys they created in this team are revoked.`}
          </p>
        </ConfirmDialog>
      </td>
    </tr>
  );
}
