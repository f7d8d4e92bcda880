"use client";
// Live changes to the pool (the `poolEvents` subscription): adapters ADDED, UPDATED (status,
// version, description, visibility) or REMOVED in the active team's pool, its own adapters and
// the public ones it added. Each event carries the adapter as the table shows it (null once
// removed). The API ends the subscription with ACCESS_REVOKED when the user's access changes.
import { useSubscription } from "@/components/api/use-subscription";
import { ADAPTER_ROW_FIELDS, type AdapterView } from "./adapter-view";

const POOL_EVENTS = /* GraphQL */ `
  subscription PoolEvents($teamId: ID) {
    poolEvents(teamId: $teamId) { kind adapterId adapter { ${ADAPTER_ROW_FIELDS} } }
  }
`;

export interface PoolEvent {
  kind: "ADDED" | "UPDATED" | "REMOVED";
  adapterId: string;
  adapter: AdapterView | null;
}

/** Calls `onEvent` for every pool event of `teamId`; `onReconnect` after a dropped socket. */
export function usePoolEvents(teamId: string, onEvent: (e: PoolEvent) => void, onReconnect?: () => void) {
  return useSubscription<{ poolEvents: PoolEvent }>(POOL_EVENTS, { teamId }, (d) => onEvent(d.poolEvents), { onReconnect });
}
