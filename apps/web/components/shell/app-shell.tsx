"use client";
// The signed-in frame: header with the team switcher, the user and sign-out. Sends anonymous
// visitors to the sign-in page.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import { useApi } from "@/components/api/provider";

const ME = /* GraphQL */ `
  query Me {
    me { id email memberships { role team { id name } } }
  }
`;

interface Me {
  me: { id: string; email: string; memberships: { role: string; team: { id: string; name: string } }[] } | null;
}

export function AppShell({ children }: { children: ReactNode }) {
  const { ready, token, teamId, setTeam, setSession, request } = useApi();
  const router = useRouter();
  const [me, setMe] = useState<Me["me"]>(null);

  useEffect(() => {
    if (ready && !token) router.replace("/login");
  }, [ready, token, router]);

  useEffect(() => {
    if (!token) return;
    request<Me>(ME)
      .then((d) => {
        setMe(d.me);
        const teams = d.me?.memberships ?? [];
        if (teams.length && !teams.some((m) => m.team.id === teamId)) setTeam(teams[0]!.team.id);
      })
      .catch(() => setMe(null));
  }, [token, teamId, request, setTeam]);

  async function signOut() {
    await request(`mutation { logout }`).catch(() => undefined);
    setSession(null);
    router.replace("/login");
  }

  if (!ready || !token) return <p className="center muted">Loading…</p>;
  return (
    <>
      <header className="shell-header">
        <nav>
          <span className="brand">Quiver</span>
          <Link href="/adapters">Adapters</Link>
        </nav>
        <nav>
          {me && me.memberships.length > 0 && (
            <select aria-label="Team" value={teamId ?? ""} onChange={(e) => setTeam(e.target.value)}>
              {me.memberships.map((m) => (
                <option key={m.team.id} value={m.team.id}>
                  {m.team.name} ({m.role.toLowerCase()})
                </option>
              ))}
            </select>
          )}
          {me && <span className="muted" data-testid="user-email">{me.email}</span>}
          <button className="secondary" onClick={signOut}>
            Sign out
          </button>
        </nav>
      </header>
      <main className="content">{children}</main>
    </>
  );
}
