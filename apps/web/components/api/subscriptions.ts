// GraphQL subscriptions over WebSocket (graphql-ws), the live half of the dashboard's one
// channel: pool events and streaming generations. One lazy client per session and team; it
// connects on the first subscription, carries the bearer token and the active team in
// connectionParams (as the API expects), and reconnects with backoff when the socket drops.
import { createClient, type Client } from "graphql-ws/client";
import { fromWireError, GraphQLRequestError, type WireError } from "./graphql";

export interface SubscriptionSink<T> {
  next(data: T): void;
  error(error: GraphQLRequestError): void;
  complete(): void;
}

/** ws(s)://host/graphql for the API's http(s) URL. */
export function subscriptionUrl(apiUrl: string): string {
  return `${apiUrl.replace(/^http/, "ws")}/graphql`;
}

export function createSubscriptionClient(apiUrl: string, token: string, teamId: string | null): Client {
  return createClient({
    url: subscriptionUrl(apiUrl),
    connectionParams: { authorization: `Bearer ${token}`, ...(teamId ? { team: teamId } : {}) },
    lazy: true,
    // Moving between pages re-subscribes within moments: keep the socket for that.
    lazyCloseTimeout: 5_000,
    retryAttempts: 8,
    // 4403 (bad credentials) and other 44xx closes are final; network drops are retried.
    shouldRetry: (e) => !(e instanceof CloseEvent && e.code >= 4400 && e.code < 4500),
  });
}

function toRequestError(err: unknown): GraphQLRequestError {
  if (Array.isArray(err) && err.length) return fromWireError(err[0] as WireError, 0, "The subscription failed.");
  if (typeof CloseEvent !== "undefined" && err instanceof CloseEvent) {
    const code = err.code === 4403 || err.code === 4401 ? "UNAUTHENTICATED" : "NETWORK";
    return new GraphQLRequestError(err.reason || `The live connection closed (${err.code}).`, code, 0);
  }
  if (err instanceof Error) return new GraphQLRequestError(err.message, "NETWORK", 0);
  return new GraphQLRequestError("The live connection to the API failed.", "NETWORK", 0);
}

/**
 * Starts one subscription; returns the function that ends it (for `generate`, ending it
 * cancels the generation on the server). GraphQL errors in a result end it with an error.
 */
export function subscribe<T>(client: Client, query: string, variables: Record<string, unknown>, sink: SubscriptionSink<T>): () => void {
  let ended = false;
  let stop: () => void = () => undefined;
  stop = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (ended) return;
        if (result.errors?.length) {
          ended = true;
          sink.error(toRequestError(result.errors));
          stop();
          return;
        }
        if (result.data) sink.next(result.data as T);
      },
      error: (err) => {
        if (ended) return;
        ended = true;
        sink.error(toRequestError(err));
      },
      complete: () => {
        if (ended) return;
        ended = true;
        sink.complete();
      },
    },
  );
  return () => {
    ended = true;
    stop();
  };
}
