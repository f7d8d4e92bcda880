"use client";
// One GraphQL subscription for as long as the component wants it (pool events on the pool
// and adapter pages). Re-subscribes when the query, its variables, the session or the team
// change; `onData` may change every render without re-subscribing. After the socket drops
// and reconnects, `onReconnect` runs so that the page can re-read what it missed. An error
// ends the subscription (ACCESS_REVOKED when the user's access changed); `retry()` starts it
// again.
import { useCallback, useEffect, useRef, useState } from "react";
import type { GraphQLRequestError } from "./graphql";
import { useApi } from "./provider";
import { subscribe } from "./subscriptions";

export interface SubscriptionOptions {
  skip?: boolean;
  onReconnect?: () => void;
}

export interface SubscriptionState {
  error: GraphQLRequestError | undefined;
  retry(): void;
}

export function useSubscription<T>(
  query: string,
  variables: Record<string, unknown>,
  onData: (data: T) => void,
  options: SubscriptionOptions = {},
): SubscriptionState {
  const { live, reconnects } = useApi();
  const [error, setError] = useState<GraphQLRequestError>();
  const [attempt, setAttempt] = useState(0);
  const handlers = useRef({ onData, onReconnect: options.onReconnect });
  handlers.current = { onData, onReconnect: options.onReconnect };
  const key = JSON.stringify(variables);
  const skip = options.skip ?? false;

  useEffect(() => {
    if (!live || skip) return;
    setError(undefined);
    return subscribe<T>(live, query, JSON.parse(key) as Record<string, unknown>, {
      next: (data) => handlers.current.onData(data),
      error: setError,
      complete: () => undefined,
    });
  }, [live, query, key, skip, attempt]);

  const seen = useRef(reconnects);
  useEffect(() => {
    if (reconnects === seen.current) return;
    seen.current = reconnects;
    handlers.current.onReconnect?.();
  }, [reconnects]);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);
  return { error, retry };
}
