"use client";
// Invitations (ADMIN and above): the invite form and the open invitations, each revocable.
import { useState } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { useQuery } from "@/components/api/use-query";
import { roleLabel, type Role } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { formatDateTime, formatRelative } from "@/components/ui/format";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { InviteForm } from "./invite-form";

const INVITATIONS = /* GraphQL */ `
  query TeamInvitations($id: ID!) {
    team(id: $id) {
      id
      invitations {
        id
        email
        role
        createdAt
        expiresAt
      }
    }
  }
`;

const REVOKE = /* GraphQL */ `
  mutation RevokeInvitation($id: ID!) {
    revokeInvitation(id: $id) {
      id
    }
  }
`;

interface InvitationView {
  id: string;
  email: string;
  role: Role;
  createdAt: string;
  expiresAt: string;
}

export function InvitationsSection() {
  const { team } = useTeam();
  const q = useQuery<{ team: { invitations: InvitationView[] } | null }>(INVITATIONS, { id: team.id });
  const revoke = useMutation<{ revokeInvitation: { id: string } }>(REVOKE);
  const [revoking, setRevoking] = useState<InvitationView | null>(null);
  const invitations = q.data?.team?.invitations ?? [];

  async function confirmRevoke() {
    if (revoking && (await revoke.run({ id: revoking.id }))) {
      setRevoking(null);
      q.reload();
    }
  }

  return (
    <section aria-labelledby="invitations-title" className="section">
      <h2 id="invitations-title">Invitations</h2>
      <InviteForm teamId={team.id} myRole={team.viewerRole} onInvited={q.reload} />
      <h3>Open invitations</h3>
      {q.error ? (
        <ErrorState error={q.error} what="the invitations" onRetry={q.reload} />
      ) : !q.data ? (
        <LoadingState label="Loading invitations…" />
      ) : invitations.length === 0 ? (
        <EmptyState title="No open invitations." testId="invitations-empty" />
      ) : (
        <div className="table-wrap">
          <table className="cards-on-phone">
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Role</th>
                <th scope="col">Invited</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {invitations.map((i) => (
                <tr key={i.id} data-testid="invitation-row">
                  <td data-label="Email">{i.email}</td>
                  <td data-label="Role">{roleLabel(i.role)}</td>
                  <td data-label="Invited">{formatDateTime(i.createdAt)}</td>
                  <td data-label="Expires" title={formatDateTime(i.expiresAt)}>
                    {formatRelative(i.expiresAt)}
                  </td>
                  <td data-label="Actions" className="actions-cell">
                    <button
                      type="button"
                      className="secondary small danger-text"
                      aria-label={`Revoke the invitation for ${i.email}`}
                      onClick={() => {
                        revoke.reset();
                        setRevoking(i);
                      }}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title="Revoke this invitation?"
        confirmLabel="Revoke invitation"
        busy={revoke.busy}
        error={revoke.error}
        onConfirm={() => void confirmRevoke()}
        onCancel={() => setRevoking(null)}
      >
        <p>{revoking ? `${revoking.email} will no longer be able to join with it.` : ""}</p>
      </ConfirmDialog>
    </section>
  );
}
