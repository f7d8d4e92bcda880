// The dashboard's one channel to the platform: GraphQL over HTTP with the session's bearer
// token. Errors come back as GraphQLRequestError with the API's code (and, for bad input,
// the argument it is about, so that forms show it beside that field).

export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly argument?: string,
  ) {
    super(message);
  }
}

interface GraphQLResponse<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string; details?: { argument?: string } } }[];
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
  if (first) throw new GraphQLRequestError(first.message, first.extensions?.code ?? "INTERNAL", res.status, first.extensions?.details?.argument);
  if (!body.data) throw new GraphQLRequestError("The API returned no data.", "INTERNAL", res.status);
  return body.data;
}
