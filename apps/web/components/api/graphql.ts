// The dashboard's one channel to the platform: GraphQL over HTTP with the session's bearer
// token. Errors come back as GraphQLRequestError with the API's code (and, for bad input,
// the argument it is about, so that forms show it beside that field; for a quota, rate or
// overload refusal, the seconds to wait before trying again).

export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly argument?: string,
    /** extensions.details.retryAfterSeconds: how long to wait before trying again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

/** An error as the API sends it in a GraphQL result (HTTP or WebSocket). */
export interface WireError {
  message?: string;
  extensions?: { code?: string; retryAfterSeconds?: unknown; details?: { argument?: string; retryAfterSeconds?: unknown } };
}

/** The first of a result's errors as a GraphQLRequestError. */
export function fromWireError(e: WireError, status: number, fallback: string): GraphQLRequestError {
  const details = e.extensions?.details;
  const wait = details?.retryAfterSeconds ?? e.extensions?.retryAfterSeconds;
  return new GraphQLRequestError(
    e.message ?? fallback,
    e.extensions?.code ?? "INTERNAL",
    status,
    details?.argument,
    typeof wait === "number" && Number.isFinite(wait) && wait >= 0 ? Math.ceil(wait) : undefined,
  );
}

interface GraphQLResponse<T> {
  data?: T;
  errors?: (WireError & { message: string })[];
}

export async function graphqlRequest<T>(
  apiUrl: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown> = {},
  teamId?: string | null,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${apiUrl}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(teamId ? { "x-quiver-team": teamId } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new GraphQLRequestError(`Cannot reach the Quiver API at ${apiUrl}.`, "NETWORK", 0);
  }
  let body: GraphQLResponse<T>;
  try {
    body = (await res.json()) as GraphQLResponse<T>;
  } catch {
    throw new GraphQLRequestError(`The API answered ${res.status} without a GraphQL body.`, "INTERNAL", res.status);
  }
  const first = body.errors?.[0];
  if (first) {
    const err = fromWireError(first, res.status, "The API refused the request.");
    // The Retry-After header, where the API's CORS lets the page read it, for a refusal whose
    // body gave no wait.
    const header = Number(res.headers.get("retry-after") ?? NaN);
    if (err.retryAfterSeconds === undefined && Number.isFinite(header) && header >= 0) {
      throw new GraphQLRequestError(err.message, err.code, err.status, err.argument, Math.ceil(header));
    }
    throw err;
  }
  if (!body.data) throw new GraphQLRequestError("The API returned no data.", "INTERNAL", res.status);
  return body.data;
}
