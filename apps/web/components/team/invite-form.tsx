"use client";
// Invites someone by email with a role. There is no email delivery: the invitation token is
// shown once, with an accept link, for the inviter to pass on.
import { useState, type FormEvent } from "react";
import { useMutation } from "@/components/api/use-mutation";
import type { Role } from "@/components/auth/permissions";
import { OneTimeSecret } from "@/components/ui/one-time-secret";
import { CopyButton } from "@/components/ui/copy-button";
import { InlineError } from "@/components/ui/states";
import { defaultRole, RoleSelect } from "./role-select";

const INVITE = /* GraphQL */ `
  mutation InviteMember($teamId: ID!, $email: String!, $role: Role!) {
    inviteMember(teamId: $teamId, email: $email, role: $role) {
      token
      invitation {
        id
        email
        role
      }
    }
  }
`;

interface Invited {
  inviteMember: { token: string; invitation: { id: string; email: string; role: Role } };
}

export function InviteForm({ teamId, myRole, onInvited }: { teamId: string; myRole: Role; onInvited(): void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>(defaultRole(myRole));
  const [issued, setIssued] = useState<Invited["inviteMember"] | null>(null);
  const invite = useMutation<Invited>(INVITE);
  const emailError = invite.error?.argument === "email" ? invite.error : undefined;
  const formError = invite.error && !emailError ? invite.error : undefined;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const r = await invite.run({ teamId, email, role });
    if (!r) return;
    setIssued(r.inviteMember);
    setEmail("");
    onInvited();
  }

  if (issued) {
    const link = `${window.location.origin}/accept-invite?token=${encodeURIComponent(issued.token)}`;
    return (
      <OneTimeSecret title={`Invitation for ${issued.invitation.email}`} value={issued.token} onDismiss={() => setIssued(null)} testId="invitation-secret">
        <p className="muted">
          Quiver sends no email: give this token to {issued.invitation.email}, or the link below, which opens the page where they accept it. It works once and
          expires in 7 days.
        </p>
        <div className="secret-value">
          <code className="small" data-testid="invitation-link">
            {link}
          </code>
          <CopyButton value={link} label="Copy link" />
        </div>
      </OneTimeSecret>
    );
  }

  return (
    <form className="inline-form" onSubmit={submit} aria-label="Invite a member">
      <div className="field grow">
        <label htmlFor="invite-email">Email</label>
        <input
          id="invite-email"
          type="email"
          required
          autoComplete="off"
          value={email}
          aria-invalid={!!emailError}
          aria-describedby={emailError ? "invite-email-error" : undefined}
          onChange={(e) => setEmail(e.target.value)}
        />
        <InlineError error={emailError} id="invite-email-error" />
      </div>
      <div className="field">
        <label htmlFor="invite-role">Role</label>
        <RoleSelect id="invite-role" myRole={myRole} value={role} onChange={setRole} />
      </div>
      <div className="field">
        <button type="submit" disabled={invite.busy}>
          {invite.busy ? "Inviting…" : "Invite"}
        </button>
      </div>
      <InlineError error={formError} />
    </form>
  );
}
