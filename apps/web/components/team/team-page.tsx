"use client";
// The team page: members and quotas for everyone (quotas editable by server administrators
// only); invitations, API keys and the audit log for the roles that may manage them
// (member.manage, apikey.manage, audit.read: ADMIN and above); creating another team.
import { can, roleLabel } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { ApiKeysSection } from "./api-keys-section";
import { AuditLogSection } from "./audit-log-section";
import { CreateTeamSection } from "./create-team-section";
import { InvitationsSection } from "./invitations-section";
import { MembersSection } from "./members-section";
import { QuotasSection } from "./quotas-section";

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
      <QuotasSection />
      {can(team, "member.manage") && <InvitationsSection />}
      {can(team, "apikey.manage") && <ApiKeysSection />}
      {can(team, "audit.read") && <AuditLogSection />}
      {hidden && (
        <p className="muted" data-testid="role-note">
          Invitations, API keys and the audit log are managed by the team&apos;s admins and owners.
        </p>
      )}
      <CreateTeamSection />
    </>
  );
}
