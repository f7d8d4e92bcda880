"use client";
// API keys (ADMIN and above): create one (its secret shown once), list them by prefix with
// role, creator, last use and expiry, revoke one after a confirmation.
import { useState } from "react";
import { useMutation } from "@/components/api/use-mutation";
import { useQuery } from "@/components/api/use-query";
import { roleLabel, type Role } from "@/components/auth/permissions";
import { useTeam } from "@/components/shell/team-context";
import { ConfirmDialog } from "@/components/ui/confirm-dialog";
import { formatDateTime, formatRelative } from "@/components/ui/format";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { ApiKeyForm } from "./api-key-form";

const API_KEYS = /* GraphQL */ `
  query TeamApiKeys($id: ID!, $includeRevoked: Boolean!) {
    team(id: $id) {
      id
      apiKeys(includeRevoked: $includeRevoked) {
        id
        name
        prefix
        role
        createdAt
        createdBy {
          email
        }
        lastUsedAt
        expiresAt
        revokedAt
      }
    }
  }
`;

const REVOKE = /* GraphQL */ `
  mutation RevokeApiKey($id: ID!) {
    revokeApiKey(id: $id) {
      id
      revokedAt
    }
  }
`;

interface ApiKeyView {
  id: string;
  name: string;
  prefix: string;
  role: Role;
  createdAt: string;
  createdBy: { email: string } | null;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
}

function keyState(k: ApiKeyView): "revoked" | "expired" | "active" {
  if (k.revokedAt) return "revoked";
  if (k.expiresAt && new Date(k.expiresAt).getTime() <= Date.now()) return "expired";
  return "active";
}

export function ApiKeysSection() {
  const { team } = useTeam();
  const [includeRevoked, setIncludeRevoked] = useState(false);
  const q = useQuery<{ team: { apiKeys: ApiKeyView[] } | null }>(API_KEYS, { id: team.id, includeRevoked });
  const revoke = useMutation<{ revokeApiKey: { id: string } }>(REVOKE);
  const [revoking, setRevoking] = useState<ApiKeyView | null>(null);
  const keys = q.data?.team?.apiKeys ?? [];

  async function confirmRevoke() {
    if (revoking && (await revoke.run({ id: revoking.id }))) {
      setRevoking(null);
      q.reload();
    }
  }

  return (
    <section aria-labelledby="keys-title" className="section">
      <h2 id="keys-title">API keys</h2>
      <ApiKeyForm teamId={team.id} myRole={team.viewerRole} onCreated={q.reload} />
      <div className="toolbar">
        <h3>Keys</h3>
        <label className="checkbox">
          <input type="checkbox" checked={includeRevoked} onChange={(e) => setIncludeRevoked(e.target.checked)} /> Show revoked keys
        </label>
      </div>
      {q.error ? (
        <ErrorState error={q.error} what="the API keys" onRetry={q.reload} />
      ) : !q.data ? (
        <LoadingState label="Loading API keys…" />
      ) : keys.length === 0 ? (
        <EmptyState title="No API keys yet." testId="api-keys-empty">
          Create one for each service that calls Quiver, so that each can be revoked alone.
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="cards-on-phone">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Role</th>
                <th scope="col">Created by</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => {
                const state = keyState(k);
                return (
                  <tr key={k.id} data-testid="api-key-row" data-prefix={k.prefix} className={state === "active" ? undefined : "inactive"}>
                    <td data-label="Name">
                      <div>
                        <span className="strong">{k.name}</span>
                        {state !== "active" && <span className={`badge ${state}`}>{state}</span>}
                      </div>
                    </td>
                    <td data-label="Prefix">
                      <code>{k.prefix}</code>
                    </td>
                    <td data-label="Role">{roleLabel(k.role)}</td>
                    <td data-label="Created by" title={formatDateTime(k.createdAt)}>
                      <div>
                        {k.createdBy?.email ?? "—"}
                        <span className="muted block small">{formatDateTime(k.createdAt)}</span>
                      </div>
                    </td>
                    <td data-label="Last used" title={formatDateTime(k.lastUsedAt)}>
                      {k.lastUsedAt ? formatRelative(k.lastUsedAt) : "Never"}
                    </td>
                    <td data-label="Expires" title={formatDateTime(k.expiresAt)}>
                      {k.expiresAt ? formatRelative(k.expiresAt) : "Never"}
                    </td>
                    <td data-label="Actions" className="actions-cell">
                      {state !== "revoked" && (
                        <button
                          type="button"
                          className="secondary small danger-text"
                          aria-label={`Revoke the key ${k.name} (${k.prefix})`}
                          onClick={() => {
                            revoke.reset();
                            setRevoking(k);
                          }}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={revoking !== null}
        title="Revoke this API key?"
        confirmLabel="Revoke key"
        busy={revoke.busy}
        error={revoke.error}
        onConfirm={() => void confirmRevoke()}
        onCancel={() => setRevoking(null)}
      >
        <p>{revoking ? `Requests with “${revoking.name}” (${revoking.prefix}…) will be refused at once. This cannot be undone.` : ""}</p>
      </ConfirmDialog>
    </section>
  );
}
