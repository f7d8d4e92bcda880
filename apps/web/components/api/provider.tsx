"use client";
// Session state for the dashboard: the API's URL, the bearer token (kept in localStorage,
// sent as an Authorization header, never as a cookie), a typed request function, and the
// WebSocket client for subscriptions (one per token and team, connected on first use).
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import type { Client } from "graphql-ws/client";
import { graphqlRequest, GraphQLRequestError } from "./graphql";
import { createSubscriptionClient } from "./subscriptions";

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
  /** The subscription client for this session and team (null before sign-in or in the server render). */
  live: Client | null;
  /** The socket's state: idle until a page subscribes, then connecting, connected or closed. */
  liveStatus: LiveStatus;
  /** Counts reconnections after a drop: pages re-read what they may have missed. */
  reconnects: number;
}

export type LiveStatus = "idle" | "connecting" | "connected" | "closed";

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

  const [live, setLive] = useState<Client | null>(null);
  const [liveStatus, setLiveStatus] = useState<LiveStatus>("idle");
  const [reconnects, setReconnects] = useState(0);
  useEffect(() => {
    if (!token) return;
    const client = createSubscriptionClient(apiUrl, token, teamId);
    const off = [
      client.on("connecting", () => setLiveStatus("connecting")),
      client.on("connected", (_socket, _payload, wasRetry) => {
        setLiveStatus("connected");
        if (wasRetry) setReconnects((n) => n + 1);
      }),
      // A lazy close after the last subscription ended is not a failure: back to idle.
      client.on("closed", (e) => setLiveStatus((e as CloseEvent | undefined)?.code === 1000 ? "idle" : "closed")),
    ];
    setLive(client);
    setLiveStatus("idle");
    return () => {
      off.forEach((f) => f());
      setLive(null);
      void client.dispose();
    };
  }, [apiUrl, token, teamId]);

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
    () => ({ apiUrl, token, teamId, ready, setSession, setTeam, request, live, liveStatus, reconnects }),
    [apiUrl, token, teamId, ready, setSession, setTeam, request, live, liveStatus, reconnects],
  );
  return <ApiContext.Provider value={value}>{children}</ApiContext.Provider>;
}

export function useApi(): ApiState {
  const ctx = useContext(ApiContext);
  if (!ctx) throw new Error("useApi outside ApiProvider");
  return ctx;
}
