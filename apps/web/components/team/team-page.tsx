"use client";
// The team page: members for everyone; invitations, API keys and the audit log for the roles
// that may manage them (member.manage, apikey.manage, audit.read: ADMIN and above).
import { can, roleLabel } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { ApiKeysSection } from "./api-keys-section";
import { AuditLogSection } from "./audit-log-section";
import { InvitationsSection } from "./invitations-section";
import { MembersSection } from "./members-section";

export function TeamPage() {
  const { team } = useTeam();
  const role = team.viewerRole;
  const hidden = !can(team, "member.manage") || !can(team, "apikey.manage") || !can(team, "audit.read");
  return (
    <>
      <div className="page-title">
        <h1>{team.name}</h1>
        <span className="muted">
          Your role: <span className={`badge role ${role}`}>{roleLabel(role)}</span>
        </span>
      </div>
      <MembersSection />
      {can(team, "member.manage") && <InvitationsSection />}
      {can(team, "apikey.manage") && <ApiKeysSection />}
      {can(team, "audit.read") && <AuditLogSection />}
      {hidden && (
        <p className="muted" data-testid="role-note">
          Invitations, API keys and the audit log are managed by the team&apos;s admins and owners.
        </p>
      )}
    </>
  );
}
