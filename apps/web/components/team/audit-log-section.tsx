"use client";
// The audit log (ADMIN and above): administrative actions, newest first, paged backwards
// with `before` (the createdAt of the oldest entry shown).
import { useCallback, useEffect, useState } from "react";
import { GraphQLRequestError } from "@/components/api/graphql";
import { useApi } from "@/components/api/provider";
import { useTeam } from "@/components/shell/team-context";
import { formatDateTime } from "@/components/ui/format";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";

const AUDIT_LOG = /* GraphQL */ `
  query TeamAuditLog($id: ID!, $first: Int!, $after: String) {
    team(id: $id) {
      id
      auditLog(first: $first, after: $after) {
        id
        action
        targetType
        targetId
        actor {
          email
        }
        actorKey {
          name
          prefix
        }
        metadata
        createdAt
        cursor
      }
    }
  }
`;

const PAGE = 25;

interface AuditEntryView {
  id: string;
  action: string;
  targetType: string;
  targetId: string | null;
  actor: { email: string } | null;
  actorKey: { name: string; prefix: string } | null;
  metadata: string;
  createdAt: string;
  cursor: string;
}

const describe: Record<string, string> = {
  "server.bootstrap": "Created the first administrator",
  "team.create": "Created the team",
  "team.update": "Changed the team's settings",
  "invitation.create": "Invited a member",
  "invitation.revoke": "Revoked an invitation",
  "invitation.accept": "Accepted an invitation",
  "member.role": "Changed a member's role",
  "member.remove": "Removed a member",
  "apikey.create": "Created an API key",
  "apikey.revoke": "Revoked an API key",
  "apikey.limits": "Changed an API key's limits",
  "pool.add": "Added a public adapter to the pool",
  "pool.remove": "Took a public adapter out of the pool",
  "team.quotas": "A server administrator set the quotas",
};

/** The entry's metadata object as "key: value" pairs. */
function details(metadata: string): string {
  try {
    const m = JSON.parse(metadata) as Record<string, unknown>;
    return Object.entries(m)
      .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" · ");
  } catch {
    return metadata;
  }
}

export function AuditLogSection() {
  const { request } = useApi();
  const { team } = useTeam();
  const [entries, setEntries] = useState<AuditEntryView[] | null>(null);
  const [more, setMore] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<GraphQLRequestError | Error>();

  const load = useCallback(
    async (after: string | null) => {
      setBusy(true);
      setError(undefined);
      try {
        const d = await request<{ team: { auditLog: AuditEntryView[] } | null }>(AUDIT_LOG, { id: team.id, first: PAGE, after });
        const page = d.team?.auditLog ?? [];
        setEntries((prev) => (after && prev ? [...prev, ...page] : page));
        setMore(page.length === PAGE);
      } catch (err) {
        setError(err as Error);
      } finally {
        setBusy(false);
      }
    },
    [request, team.id],
  );

  useEffect(() => {
    setEntries(null);
    void load(null);
  }, [load]);

  const oldest = entries?.at(-1)?.cursor ?? null;
  return (
    <section aria-labelledby="audit-title" className="section">
      <div className="toolbar">
        <h2 id="audit-title">Audit log</h2>
        <button type="button" className="secondary small" onClick={() => void load(null)} disabled={busy}>
          Refresh
        </button>
      </div>
      {error && !entries ? (
        <ErrorState error={error} what="the audit log" onRetry={() => void load(null)} />
      ) : !entries ? (
        <LoadingState label="Loading the audit log…" />
      ) : entries.length === 0 ? (
        <EmptyState title="No administrative actions yet." />
      ) : (
        <>
          <ol className="audit-log" data-testid="audit-log">
            {entries.map((e) => (
              <li key={e.id} data-action={e.action}>
                <time dateTime={e.createdAt}>{formatDateTime(e.createdAt)}</time>
                <div>
                  <span className="strong">{describe[e.action] ?? e.action}</span> <code className="small">{e.action}</code>
                  <span className="muted block small">
                    by {e.actor?.email ?? (e.actorKey ? `API key ${e.actorKey.name} (${e.actorKey.prefix})` : "the system")}
                    {e.targetId && ` · ${e.targetType} ${e.targetId.slice(0, 8)}`}
                    {details(e.metadata) && ` · ${details(e.metadata)}`}
                  </span>
                </div>
              </li>
            ))}
          </ol>
          {error && <ErrorState error={error} what="older entries" onRetry={() => void load(oldest)} />}
          {more && (
            <p>
              <button type="button" className="secondary" onClick={() => void load(oldest)} disabled={busy}>
                {busy ? "Loading…" : "Show older entries"}
              </button>
            </p>
          )}
        </>
      )}
    </section>
  );
}
