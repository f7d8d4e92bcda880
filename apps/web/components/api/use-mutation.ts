"use client";
// One GraphQL write with its busy and error states. `run` resolves to the data, or to
// undefined when the API refused (the error is then in `error`, with the API's code).
import { useCallback, useState } from "react";
import { GraphQLRequestError } from "./graphql";
import { useApi } from "./provider";

export interface MutationState<T> {
  run(variables?: Record<string, unknown>): Promise<T | undefined>;
  busy: boolean;
  error: GraphQLRequestError | undefined;
  reset(): void;
}

export function useMutation<T>(mutation: string): MutationState<T> {
  const { request } = useApi();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<GraphQLRequestError>();

  const run = useCallback(
    async (variables: Record<string, unknown> = {}) => {
      setBusy(true);
      setError(undefined);
      try {
        return await request<T>(mutation, variables);
      } catch (err) {
        setError(err instanceof GraphQLRequestError ? err : new GraphQLRequestError((err as Error).message, "INTERNAL", 0));
        return undefined;
      } finally {
        setBusy(false);
      }
    },
    [request, mutation],
  );
  const reset = useCallback(() => setError(undefined), []);
  return { run, busy, error, reset };
}
