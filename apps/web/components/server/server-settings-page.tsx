"use client";
// Server settings, for server administrators (me.isAdmin): the quotas a new team starts
// with, the maximum any team may have, whether any signed-in user may create teams, and the
// quotas of one team (a team cannot set its own). Everyone else is told the page is not for
// them (the navigation does not offer it; the API refuses them anyway).
import { useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { useTeam } from "@/components/shell/team-context";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { ServerSettingsForm } from "./server-settings-form";
import { SERVER_SETTINGS, type ServerSettings } from "./server-settings-query";
import { TeamQuotasEditor } from "./team-quotas-editor";

export function ServerSettingsPage() {
  const { me } = useTeam();
  if (!me.isAdmin)
    return (
      <>
        <div className="page-title">
          <h1>Server settings</h1>
        </div>
        <EmptyState title="Server settings are for the server's administrators." testId="not-server-admin">
          Quotas and team creation are set by whoever administers this Quiver server.
        </EmptyState>
      </>
    );
  return <AdminSettings />;
}

function AdminSettings() {
  const { me, team } = useTeam();
  const q = useQuery<{ serverSettings: ServerSettings | null }>(SERVER_SETTINGS);
  const settings = q.data?.serverSettings;
  const [teamId, setTeamId] = useState(team.id);
  const teams = [...me.memberships].map((m) => m.team).sort((a, b) => a.name.localeCompare(b.name));

  return (
    <>
      <div className="page-title">
        <h1>Server settings</h1>
        <span className="muted">For server administrators</span>
      </div>
      {q.error ? (
        <ErrorState error={q.error} what="the server settings" onRetry={q.reload} />
      ) : !settings ? (
        <LoadingState label="Loading the server settings…" />
      ) : (
        <>
          <ServerSettingsForm settings={settings} onSaved={(s) => q.patch(() => ({ serverSettings: s }))} />
          <section className="panel stack" aria-labelledby="team-quotas-title" data-testid="team-quotas">
            <h2 id="team-quotas-title">A team&apos;s quotas</h2>
            <p className="muted small">
              Teams cannot change their own quotas. Choose one of your teams; an empty field means unlimited, within the maximums above.
            </p>
            <div className="field team-picker">
              <label htmlFor="quota-team">Team</label>
              <select id="quota-team" value={teamId} onChange={(e) => setTeamId(e.target.value)}>
                {teams.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name}
                  </option>
                ))}
              </select>
            </div>
            {/* Saving the settings may lower team quotas to new maximums: read them again. */}
            <TeamQuotasEditor key={`${teamId}|${settings.updatedAt}`} teamId={teamId} caps={settings.maxQuotas} />
          </section>
        </>
      )}
    </>
  );
}
