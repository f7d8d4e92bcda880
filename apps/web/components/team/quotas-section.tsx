"use client";
// The team's quotas. Set by the server's administrators, never by the team itself: everyone
// else reads them here; a server administrator edits them in place (setTeamQuotas, within
// the server's maximums).
import { useQuery } from "@/components/api/use-query";
import { SERVER_SETTINGS, TEAM_QUOTAS, type ServerSettings, type TeamQuotasView } from "@/components/server/server-settings-query";
import { formatQuota, quotaInfo, quotaKeys } from "@/components/server/quotas";
import { TeamQuotasEditor } from "@/components/server/team-quotas-editor";
import { useTeam } from "@/components/shell/team-context";
import { ErrorState, LoadingState } from "@/components/ui/states";

export function QuotasSection() {
  const { me, team } = useTeam();
  return (
    <section aria-labelledby="quotas-title" className="section" data-testid="quotas-section">
      <h2 id="quotas-title">Quotas</h2>
      {me.isAdmin ? <AdminQuotas teamId={team.id} /> : <ReadOnlyQuotas teamId={team.id} />}
    </section>
  );
}

function ReadOnlyQuotas({ teamId }: { teamId: string }) {
  const q = useQuery<{ team: TeamQuotasView | null }>(TEAM_QUOTAS, { id: teamId });
  const quotas = q.data?.team?.quotas;
  if (q.error) return <ErrorState error={q.error} what="the quotas" onRetry={q.reload} />;
  if (!quotas) return <LoadingState label="Loading the quotas…" />;
  return (
    <>
      <dl className="facts quotas" data-testid="team-quotas-read-only">
        {quotaKeys.map((k) => (
          <div key={k}>
            <dt>{quotaInfo[k].label.replace(/ \(MiB\)$/, "")}</dt>
            <dd data-quota={k}>{formatQuota(k, quotas[k])}</dd>
          </div>
        ))}
      </dl>
      <p className="muted small">The server&apos;s administrators set a team&apos;s quotas.</p>
    </>
  );
}

function AdminQuotas({ teamId }: { teamId: string }) {
  const settings = useQuery<{ serverSettings: Pick<ServerSettings, "maxQuotas"> | null }>(SERVER_SETTINGS);
  return (
    <>
      <p className="muted small">As a server administrator you set this team&apos;s quotas; its owners cannot.</p>
      <TeamQuotasEditor teamId={teamId} caps={settings.data?.serverSettings?.maxQuotas ?? null} />
    </>
  );
}
