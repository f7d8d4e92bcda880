"use client";
// One GraphQL read with its loading, error and data states. Re-runs when the query, its
// variables or the active team change; `reload()` runs it again. Answers to superseded
// requests are dropped, so a slow old answer never overwrites a newer one. `patch()` edits the
// data in place (a live event that changed one row), without a request.
import { useCallback, useEffect, useRef, useState } from "react";
import { GraphQLRequestError } from "./graphql";
import { useApi } from "./provider";

export interface QueryState<T> {
  data: T | undefined;
  error: GraphQLRequestError | undefined;
  /** True while a request is in flight (also during a reload that keeps the old data). */
  loading: boolean;
  reload(): void;
  patch(update: (data: T) => T): void;
}

export function useQuery<T>(query: string, variables: Record<string, unknown> = {}, options: { skip?: boolean } = {}): QueryState<T> {
  const { request, token, teamId } = useApi();
  const [data, setData] = useState<T>();
  const [error, setError] = useState<GraphQLRequestError>();
  const [loading, setLoading] = useState(!options.skip);
  const [generation, setGeneration] = useState(0);
  const latest = useRef(0);
  const key = JSON.stringify(variables);
  const skip = options.skip ?? false;

  useEffect(() => {
    if (skip || !token) return;
    const id = ++latest.current;
    setLoading(true);
    request<T>(query, JSON.parse(key) as Record<string, unknown>)
      .then((d) => {
        if (id !== latest.current) return;
        setData(d);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (id !== latest.current) return;
        setError(err instanceof GraphQLRequestError ? err : new GraphQLRequestError((err as Error).message, "INTERNAL", 0));
      })
      .finally(() => {
        if (id === latest.current) setLoading(false);
      });
  }, [query, key, skip, token, teamId, request, generation]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const patch = useCallback((update: (d: T) => T) => setData((d) => (d === undefined ? d : update(d))), []);
  return { data, error, loading, reload, patch };
}
