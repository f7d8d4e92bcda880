"use client";
// Accepting an invitation: a new user chooses a password (and a name); a signed-in user may
// join as themselves when the invitation is for their address. Either way the API returns a
// session for the joined user, and the dashboard opens in the joined team.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { graphqlRequest } from "@/components/api/graphql";
import { useApi } from "@/components/api/provider";
import { useMutation } from "@/components/api/use-mutation";
import { useQuery } from "@/components/api/use-query";
import { InlineError, LoadingState } from "@/components/ui/states";

const ME = /* GraphQL */ `
  query AcceptInviteMe {
    me {
      id
      email
      memberships {
        team {
          id
        }
      }
    }
  }
`;

const ACCEPT = /* GraphQL */ `
  mutation AcceptInvitation($token: String!, $password: String, $name: String) {
    acceptInvitation(token: $token, password: $password, name: $name) {
      token
      user {
        id
        email
        memberships {
          team {
            id
            name
          }
        }
      }
    }
  }
`;

const TEAMS = /* GraphQL */ `
  query JoinedTeams {
    me {
      memberships {
        team {
          id
        }
      }
    }
  }
`;

interface Accepted {
  acceptInvitation: { token: string; user: { email: string; memberships: { team: { id: string; name: string } }[] } };
}

const MIN_PASSWORD = 12;

export function AcceptInviteForm({ initialToken }: { initialToken?: string }) {
  const { apiUrl, ready, token: session, setSession, setTeam } = useApi();
  const router = useRouter();
  const me = useQuery<{ me: { id: string; email: string; memberships: { team: { id: string } }[] } | null }>(ME, {}, { skip: !session });
  const accept = useMutation<Accepted>(ACCEPT);
  const [invitation, setInvitation] = useState(initialToken ?? "");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [confirm, setConfirm] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const signedIn = ready && !!session && !!me.data?.me;
  const tokenError = accept.error?.argument === "token" ? accept.error : undefined;
  const passwordError = accept.error?.argument === "password" ? accept.error : undefined;
  const formError = accept.error && !tokenError && !passwordError ? accept.error : undefined;

  async function join(variables: Record<string, unknown>) {
    const known = new Set(me.data?.me?.memberships.map((m) => m.team.id) ?? []);
    const r = await accept.run({ token: invitation.trim(), ...variables });
    if (!r) return;
    const { token } = r.acceptInvitation;
    // The payload's memberships may predate the join when a signed-in user accepts (the API
    // answers from the caller's session): read them again with the new session.
    const teams = await graphqlRequest<{ me: { memberships: { team: { id: string } }[] } | null }>(apiUrl, token, TEAMS)
      .then((d) => d.me?.memberships ?? [])
      .catch(() => r.acceptInvitation.user.memberships);
    setSession(token);
    setTeam((teams.find((m) => !known.has(m.team.id)) ?? teams[0])?.team.id ?? null);
    router.replace("/team");
  }

  function createAccount(e: FormEvent) {
    e.preventDefault();
    if (password !== confirm) return setMismatch(true);
    setMismatch(false);
    void join({ password, name: name.trim() || null });
  }

  if (!ready || (session && me.loading && !me.data)) return <LoadingState />;
  const next = `/accept-invite${invitation ? `?token=${encodeURIComponent(invitation.trim())}` : ""}`;

  return (
    <div className="panel login accept">
      <div className="brand">Quiver</div>
      <h1>Join a team</h1>
      <div>
        <label htmlFor="invitation-token">Invitation token</label>
        <input
          id="invitation-token"
          className="mono"
          required
          autoComplete="off"
          spellCheck={false}
          value={invitation}
          aria-invalid={!!tokenError}
          aria-describedby={tokenError ? "invitation-token-error" : "invitation-token-hint"}
          onChange={(e) => setInvitation(e.target.value)}
        />
        <p className="muted small" id="invitation-token-hint">
          The token (qi_…) or link your team admin gave you.
        </p>
        <InlineError error={tokenError} id="invitation-token-error" />
      </div>

      {signedIn && (
        <section aria-labelledby="join-as-title" className="stack">
          <h2 id="join-as-title">Join as {me.data!.me!.email}</h2>
          <p className="muted">Use this when the invitation was sent to this address.</p>
          <button type="button" disabled={accept.busy || !invitation.trim()} onClick={() => void join({})}>
            {accept.busy ? "Joining…" : `Join as ${me.data!.me!.email}`}
          </button>
        </section>
      )}

      <form onSubmit={createAccount} aria-labelledby="new-account-title" className="stack">
        <h2 id="new-account-title">{signedIn ? "Or create an account for the invited address" : "Create your account"}</h2>
        <div>
          <label htmlFor="new-name">Name (optional)</label>
          <input id="new-name" autoComplete="name" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </div>
        <div>
          <label htmlFor="new-password">Password</label>
          <input
            id="new-password"
            type="password"
            autoComplete="new-password"
            required
            minLength={MIN_PASSWORD}
            value={password}
            aria-invalid={!!passwordError}
            aria-describedby={passwordError ? "new-password-error" : "new-password-hint"}
            onChange={(e) => setPassword(e.target.value)}
          />
          <p className="muted small" id="new-password-hint">
            At least {MIN_PASSWORD} characters.
          </p>
          <InlineError error={passwordError} id="new-password-error" />
        </div>
        <div>
          <label htmlFor="confirm-password">Repeat the password</label>
          <input
            id="confirm-password"
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            aria-invalid={mismatch}
            aria-describedby={mismatch ? "confirm-password-error" : undefined}
            onChange={(e) => setConfirm(e.target.value)}
          />
          {mismatch && (
            <p className="error" role="alert" id="confirm-password-error">
              The passwords differ.
            </p>
          )}
        </div>
        <button type="submit" className={signedIn ? "secondary" : undefined} disabled={accept.busy}>
          {accept.busy ? "Joining…" : "Create account and join"}
        </button>
      </form>
      <InlineError error={formError} />
      {!signedIn && (
        <p className="muted small">
          Already have an account? <Link href={`/login?next=${encodeURIComponent(next)}`}>Sign in</Link> first, then join as yourself.
        </p>
      )}
    </div>
  );
}
