// Starts the API in this process on a free port over a given catalog, with a known admin.
import { startQuiver, type Quiver } from "../../apps/api/src/app.js";
import { loadConfig } from "../../apps/api/src/config.js";
import type { Catalog } from "../../apps/api/src/catalog/database.js";

export const ADMIN_EMAIL = "admin@example.test";
export const ADMIN_PASSWORD = "correct-horse-battery-staple";

export async function startTestServer(catalog: Catalog, env: Record<string, string> = {}, options: { log?: (line: string) => void } = {}): Promise<Quiver> {
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    QUIVER_WEB: "off",
    QUIVER_ADMIN_EMAIL: ADMIN_EMAIL,
    QUIVER_ADMIN_PASSWORD: ADMIN_PASSWORD,
    QUIVER_DATA_DIR: ".tmp/unused-data-dir",
    // Tests serve what they configure, never the repository's zoo (test/zoo sets its own).
    QUIVER_ZOO: "off",
    // close() ends what still runs at once, as the tests' afterAll expects (shutdown.test.ts runs its own server).
    QUIVER_SHUTDOWN_GRACE_SECONDS: "0",
    ...env,
  });
  return startQuiver(config, { catalog, log: options.log ?? (() => {}) });
}

export interface GraphQLResult<T = Record<string, unknown>> {
  status: number;
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string; [k: string]: unknown } }[];
}

export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<GraphQLResult<T>> {
  const res = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, ...((await res.json()) as object) };
}

export async function login(url: string, email = ADMIN_EMAIL, password = ADMIN_PASSWORD): Promise<string> {
  const r = await gql<{ login: { token: string } }>(url, `mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }`, {
    e: email,
    p: password,
  });
  if (!r.data?.login) throw new Error(`login failed: ${JSON.stringify(r.errors)}`);
  return r.data.login.token;
}
