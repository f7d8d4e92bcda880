"use client";
// Session state for the dashboard: the API's URL, the bearer token (kept in localStorage,
// sent as an Authorization header, never as a cookie) and a typed request function.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { graphqlRequest, GraphQLRequestError } from "./graphql";

const TOKEN_KEY = "quiver.token";
const TEAM_KEY = "quiver.team";

interface ApiState {
  apiUrl: string;
  token: string | null;
  teamId: string | null;
  /** False until the token has been read from storage (avoids a flash of the login page). */
  ready: boolean;
  setSession(token: string | null): void;
  setTeam(teamId: string | null): void;
  request<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

const ApiContext = createContext<ApiState | null>(null);

export function ApiProvider({ apiUrl, children }: { apiUrl: string; children: ReactNode }) {
  const [token, setToken] = useState<string | null>(null);
  const [teamId, setTeamId] = useState<string | null>(null);
  const [ready, setReady] = useState(false);

  useEffect(() => {
    setToken(window.localStorage.getItem(TOKEN_KEY));
    setTeamId(window.localStorage.getItem(TEAM_KEY));
    setReady(true);
  }, []);

  const setSession = useCallback((next: string | null) => {
    if (next) window.localStorage.setItem(TOKEN_KEY, next);
    else {
      window.localStorage.removeItem(TOKEN_KEY);
      window.localStorage.removeItem(TEAM_KEY);
      setTeamId(null);
    }
    setToken(next);
  }, []);

  const setTeam = useCallback((next: string | null) => {
    if (next) window.localStorage.setItem(TEAM_KEY, next);
    else window.localStorage.removeItem(TEAM_KEY);
    setTeamId(next);
  }, []);

  const request = useCallback(
    async <T,>(query: string, variables?: Record<string, unknown>) => {
      try {
        return await graphqlRequest<T>(apiUrl, token, query, variables, teamId);
      } catch (err) {
        // An expired or revoked session (the API refuses the credentials themselves with HTTP
        // 401): forget it, the pages send the user to sign in. An UNAUTHENTICATED answer from
        // one operation (an invitation for another address) keeps the session.
        if (err instanceof GraphQLRequestError && err.status === 401 && token) setSession(null);
        throw err;
      }
    },
    [apiUrl, token, teamId, setSession],
  );

  const value = useMemo(
    () => ({ apiUrl, token, teamId, ready, setSession, setTeam, request }),
    [apiUrl, token, teamId, ready, setSession, setTeam, request],
  );
  return <ApiContext.Provider value={value}>{children}</ApiContext.Provider>;
}

export function useApi(): ApiState {
  const ctx = useContext(ApiContext);
  if (!ctx) throw new Error("useApi outside ApiProvider");
  return ctx;
}
