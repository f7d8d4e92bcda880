"use client";
// The signed-in frame: header with navigation, the team switcher, the user and sign-out; it
// reads the user and the caller's role in the active team and hands them to the page
// (useTeam). Sends anonymous visitors to the sign-in page.
import { useRouter } from "next/navigation";
import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { useApi } from "@/components/api/provider";
import { useQuery } from "@/components/api/use-query";
import { roleLabel } from "@/components/auth/permissions";
import { EmptyState, ErrorState, LoadingState } from "@/components/ui/states";
import { MainNav } from "./main-nav";
import { TeamContext, type ActiveTeam, type Me } from "./team-context";

const ME = /* GraphQL */ `
  query Me {
    me {
      id
      email
      isAdmin
      memberships {
        role
        team {
          id
          name
        }
      }
    }
  }
`;

const ACTIVE_TEAM = /* GraphQL */ `
  query ActiveTeam($id: ID!) {
    team(id: $id) {
      id
      name
      slug
      viewerRole
      viewerPermissions
    }
  }
`;

export function AppShell({ children }: { children: ReactNode }) {
  const { ready, token, teamId, setTeam, setSession, request } = useApi();
  const router = useRouter();
  const me = useQuery<{ me: Me | null }>(ME, {}, { skip: !token });
  const memberships = me.data?.me?.memberships;
  // The stored team when the user still belongs to it, else their first team.
  const activeId = memberships?.some((m) => m.team.id === teamId) ? teamId : (memberships?.[0]?.team.id ?? null);
  const team = useQuery<{ team: ActiveTeam | null }>(ACTIVE_TEAM, { id: activeId }, { skip: !activeId });
  const [signingOut, setSigningOut] = useState(false);

  useEffect(() => {
    if (ready && !token) router.replace("/login");
  }, [ready, token, router]);

  useEffect(() => {
    if (activeId && activeId !== teamId) setTeam(activeId);
  }, [activeId, teamId, setTeam]);

  const { reload: reloadMe } = me;
  const { reload: reloadTeam } = team;
  const refresh = useCallback(() => {
    reloadMe();
    reloadTeam();
  }, [reloadMe, reloadTeam]);

  const user = me.data?.me ?? null;
  const active = team.data?.team ?? null;
  const context = useMemo(() => (user && active && active.viewerRole ? { me: user, team: active, refresh } : null), [user, active, refresh]);

  async function signOut() {
    setSigningOut(true);
    await request(`mutation { logout }`).catch(() => undefined);
    setSession(null);
    router.replace("/login");
  }

  if (!ready || !token) return <LoadingState />;

  let body: ReactNode;
  if (me.error) body = <ErrorState error={me.error} what="your account" onRetry={me.reload} />;
  else if (!me.data) body = <LoadingState />;
  else if (!memberships?.length) body = <EmptyState title="You belong to no team yet.">Ask a team admin for an invitation.</EmptyState>;
  else if (team.error) body = <ErrorState error={team.error} what="the team" onRetry={team.reload} />;
  else if (!context || active?.id !== activeId) body = <LoadingState />;
  else body = children;

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="shell-header">
        <div className="shell-left">
          <span className="brand">Quiver</span>
          <MainNav isAdmin={!!user?.isAdmin} />
        </div>
        <div className="shell-right">
          {memberships && memberships.length > 0 && (
            <select aria-label="Team" value={activeId ?? ""} onChange={(e) => setTeam(e.target.value)}>
              {memberships.map((m) => (
                <option key={m.team.id} value={m.team.id}>
                  {m.team.name} ({roleLabel(m.role).toLowerCase()})
                </option>
              ))}
            </select>
          )}
          {user && (
            <span className="muted" data-testid="user-email">
              {user.email}
            </span>
          )}
          <button className="secondary" onClick={() => void signOut()} disabled={signingOut}>
            Sign out
          </button>
        </div>
      </header>
      <main className="content" id="main">
        <TeamContext.Provider value={context}>{body}</TeamContext.Provider>
      </main>
    </>
  );
}
