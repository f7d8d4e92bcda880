"use client";
// The pool table's usage column: requests per adapter in the last 7 days, from the `usage`
// query's top adapters (the API returns at most 100). When it returns fewer than 100, an
// adapter missing from it had no requests; otherwise it is only known to have had at most
// as many as the 100th.
import { useState } from "react";
import { useQuery } from "@/components/api/use-query";
import { presetRange } from "@/components/usage/usage-range";

const TOP = 100;

const RECENT_REQUESTS = /* GraphQL */ `
  query RecentAdapterRequests($from: DateTime!, $to: DateTime!) {
    usage(from: $from, to: $to, groupBy: DAY, top: ${TOP}) { topAdapters { adapterId requests } }
  }
`;

export interface RecentRequests {
  /** Requests of the adapters among the top ones. */
  counts: Map<string, number>;
  /** For the others: 0 when the list is complete, else the least count listed (an upper bound). */
  otherwiseAtMost: number;
  complete: boolean;
}

export function useRecentRequests(): RecentRequests | undefined {
  const [range] = useState(() => presetRange("7d", "DAY"));
  const q = useQuery<{ usage: { topAdapters: { adapterId: string | null; requests: number }[] } }>(RECENT_REQUESTS, {
    from: range.from.toISOString(),
    to: range.to.toISOString(),
  });
  const top = q.data?.usage.topAdapters;
  if (!top) return undefined;
  const counts = new Map(top.filter((a) => a.adapterId).map((a) => [a.adapterId!, a.requests]));
  const complete = top.length < TOP;
  return { counts, complete, otherwiseAtMost: complete ? 0 : Math.min(...top.map((a) => a.requests)) };
}
