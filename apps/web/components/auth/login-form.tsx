"use client";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useApi } from "@/components/api/provider";
import { GraphQLRequestError } from "@/components/api/graphql";
import { safeNext } from "./safe-next";

const LOGIN = /* GraphQL */ `
  mutation Login($email: String!, $password: String!) {
    login(email: $email, password: $password) {
      token
      user {
        id
        email
        memberships {
          role
          team {
            id
            name
          }
        }
      }
    }
  }
`;

interface LoginResult {
  login: { token: string; user: { memberships: { team: { id: string } }[] } };
}

/** `next`: the dashboard path to open after signing in (default: the adapter pool). */
export function LoginForm({ next }: { next?: string }) {
  const { request, setSession, setTeam } = useApi();
  const router = useRouter();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await request<LoginResult>(LOGIN, { email, password });
      setSession(data.login.token);
      setTeam(data.login.user.memberships[0]?.team.id ?? null);
      router.replace(safeNext(next));
    } catch (err) {
      setError(err instanceof GraphQLRequestError ? err.message : "Sign-in failed.");
      setBusy(false);
    }
  }

  return (
    <form className="panel login" onSubmit={submit} aria-label="Sign in">
      <div className="brand">Quiver</div>
      <h1>Sign in</h1>
      <div>
        <label htmlFor="email">Email</label>
        <input id="email" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </div>
      <div>
        <label htmlFor="password">Password</label>
        <input id="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
