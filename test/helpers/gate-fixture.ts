// Three teams for the gate's tests (authorization matrix, gate fuzz, revocation): each with
// PRIVATE adapters that are ACTIVE and embedded (so that retrieval, neighbours, the pool map
// and model "auto" can find them) and carry the team's markers in their names, descriptions
// and samples; PUBLIC adapters that the other teams have added to their pools and ones they
// have not; and (with stories260K) a finished generation of each team that used its private
// adapters. A response to a caller who is not in team T must contain none of T's markers.
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { gql, login, type GraphQLResult } from "./server.js";
import { adapterFiles, startPoolServer, writeAdapter, type UploadFile } from "./pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "./stories.js";

export type TeamKey = "a" | "b" | "c";
export const TEAM_KEYS: TeamKey[] = ["a", "b", "c"];
export type Role = "OWNER" | "ADMIN" | "MEMBER" | "VIEWER";
export const ROLES: Role[] = ["OWNER", "ADMIN", "MEMBER", "VIEWER"];
export const rank = (r: Role): number => ROLES.length - ROLES.indexOf(r);

export const PASSWORD = "a-long-password-1";

/** The distinct strings planted in team `t`'s private adapters (each a substring of what it marks). */
export function plantedMarkers(t: TeamKey): { name: string; description: string; sample: string } {
  return { name: `${t}secretname`, description: `${t.toUpperCase()}SecretDescription`, sample: `${t}secretsample` };
}

export interface PublicAdapter {
  id: string;
  name: string;
}

export interface GateTeam {
  key: TeamKey;
  id: string;
  slug: string;
  ownerToken: string;
  ownerUserId: string;
  /** ACTIVE, embedded, PRIVATE; name, description and samples carry the markers. */
  privateIds: string[];
  privateNames: string[];
  /** PUBLIC, added to the other two teams' pools. */
  publicAdded: PublicAdapter;
  /** PUBLIC, in no other team's pool. */
  publicNotAdded: PublicAdapter;
  /** Finished generations of the team (its owner's, on its private adapters); empty without the model. */
  generationIds: string[];
  /** Every string that must not reach a caller outside the team. */
  markers: string[];
}

export interface GateFixture {
  quiver: Quiver;
  url: string;
  /** Why generation is not available (no stories260K), or undefined. */
  storiesSkip: string | undefined;
  teams: Record<TeamKey, GateTeam>;
  /** PUBLIC adapter of team c that tests may add to and remove from pools. */
  toggle: PublicAdapter;
  /** Weights to upload (they fit the served model). */
  files(seed: number): UploadFile[];
  close(): Promise<void>;
}

export const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

/** GraphQL over HTTP with an optional X-Quiver-Team header. */
export function ask<T = Record<string, unknown>>(
  f: { url: string },
  token: string | undefined,
  query: string,
  variables: Record<string, unknown> = {},
  team?: string,
): Promise<GraphQLResult<T>> {
  return gql<T>(f.url, query, variables, { ...bearer(token), ...(team !== undefined ? { "x-quiver-team": team } : {}) });
}

/** A multipart upload with an optional X-Quiver-Team header. */
export async function uploadAs(
  url: string,
  token: string | undefined,
  fields: Record<string, string | string[] | undefined>,
  files: UploadFile[],
  options: { route?: string; team?: string } = {},
): Promise<{ status: number; body: { adapter?: { id: string; status: string }; errors?: { message: string; extensions: { code: string } }[] } }> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) form.append(k, Array.isArray(v) ? JSON.stringify(v) : v);
  for (const file of files) form.append("file", new Blob([file.data]), file.filename);
  const headers: Record<string, string> = { ...bearer(token), ...(options.team !== undefined ? { "x-quiver-team": options.team } : {}) };
  const res = await fetch(`${url}${options.route ?? "/v1/adapters"}`, { method: "POST", headers, body: form });
  return { status: res.status, body: (await res.json()) as never };
}

/** Twelve distinct samples on a theme, each carrying `marker`. */
export function markedSamples(marker: string, theme: string): string[] {
  return Array.from({ length: 12 }, (_, i) => `${theme} number ${i} (${marker}): tell a short story about it.`);
}

function must<T>(r: GraphQLResult<T>, what: string): T {
  if (!r.data || r.errors?.length) throw new Error(`${what} failed: ${JSON.stringify(r.errors)}`);
  return r.data;
}

/** Creates a user by invitation into `teamId` (as `role`), returning its session token and id. */
export async function inviteUser(
  url: string,
  inviterToken: string,
  teamId: string,
  email: string,
  role: Role,
  existingToken?: string,
): Promise<{ token: string; userId: string }> {
  const inv = must(
    await gql<{ inviteMember: { token: string } }>(
      url,
      `mutation($t: ID!, $e: String!, $r: Role!) { inviteMember(teamId: $t, email: $e, role: $r) { token } }`,
      { t: teamId, e: email, r: role },
      bearer(inviterToken),
    ),
    `inviting ${email}`,
  );
  const acc = must(
    await gql<{ acceptInvitation: { token: string; user: { id: string } } }>(
      url,
      existingToken
        ? `mutation($k: String!) { acceptInvitation(token: $k) { token user { id } } }`
        : `mutation($k: String!) { acceptInvitation(token: $k, password: "${PASSWORD}") { token user { id } } }`,
      { k: inv.inviteMember.token },
      bearer(existingToken),
    ),
    `accepting ${email}'s invitation`,
  );
  return { token: existingToken ?? acc.acceptInvitation.token, userId: acc.acceptInvitation.user.id };
}

/** An API key of `teamId` made by the user of `creatorToken`. */
export async function createKey(
  url: string,
  creatorToken: string,
  teamId: string,
  role: Role,
  name = `key-${role.toLowerCase()}`,
): Promise<{ id: string; secret: string }> {
  const r = must(
    await gql<{ createApiKey: { secret: string; apiKey: { id: string } } }>(
      url,
      `mutation($t: ID!, $n: String!, $r: Role!) { createApiKey(teamId: $t, name: $n, role: $r) { secret apiKey { id } } }`,
      { t: teamId, n: name, r: role },
      bearer(creatorToken),
    ),
    `creating a ${role} key`,
  );
  return { id: r.createApiKey.apiKey.id, secret: r.createApiKey.secret };
}

/** Starts a server over a fresh PGlite catalog and builds the three teams. */
export async function startGateFixture(env: Record<string, string> = {}): Promise<GateFixture> {
  const storiesSkip = storiesSkipReason();
  const { quiver } = await startPoolServer(await openCatalog({}), { ...(storiesSkip ? {} : { QUIVER_MODEL: convertStories() }), ...env });
  try {
    const url = quiver.api.url;
    const prisma = quiver.services.catalog.prisma;
    const adminToken = await login(url);
    const teamA = await prisma.team.findFirstOrThrow({ where: { slug: "default" } });
    const adminUser = await prisma.user.findFirstOrThrow({ where: { memberships: { some: { teamId: teamA.id } } } });
    const files = (seed: number) => adapterFiles(storiesSkip ? writeAdapter({ seed }) : storiesAdapter(seed));

    // Teams b and c, each owned by a user who belongs to no other team.
    const owners: Record<TeamKey, { token: string; userId: string; teamId: string; slug: string }> = {
      a: { token: adminToken, userId: adminUser.id, teamId: teamA.id, slug: teamA.slug },
    } as never;
    for (const t of ["b", "c"] as const) {
      const email = `${t}-owner@example.test`;
      const u = await inviteUser(url, adminToken, teamA.id, email, "VIEWER");
      const slug = `team-${t}`;
      const created = must(
        await gql<{ createTeam: { id: string } }>(
          url,
          `mutation($s: String!, $n: String!) { createTeam(name: $n, slug: $s) { id } }`,
          { s: slug, n: `Team ${t.toUpperCase()}` },
          bearer(u.token),
        ),
        "createTeam",
      );
      await prisma.membership.delete({ where: { userId_teamId: { userId: u.userId, teamId: teamA.id } } });
      owners[t] = { token: u.token, userId: u.userId, teamId: created.createTeam.id, slug };
    }

    // Adapters: uploaded by each team's owner, embedded by the server.
    let seed = 100;
    const teams = {} as Record<TeamKey, GateTeam>;
    const put = async (t: TeamKey, name: string, description: string, samples: string[], visibility: "PRIVATE" | "PUBLIC") => {
      const r = await uploadAs(url, owners[t].token, { name, description, samples, visibility, teamId: owners[t].teamId }, files(seed++));
      if (r.status !== 201) throw new Error(`uploading ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      return { id: r.body.adapter!.id, name };
    };
    for (const t of TEAM_KEYS) {
      const m = plantedMarkers(t);
      const priv = [
        await put(t, `${m.name}-1`, `${m.description}: the first private adapter of team ${t}`, markedSamples(m.sample, "A cat in the garden"), "PRIVATE"),
        await put(t, `${m.name}-2`, `${m.description}: the second private adapter of team ${t}`, markedSamples(m.sample, "A ship on the sea"), "PRIVATE"),
      ];
      const publicAdded = await put(
        t,
        `${t}-public-added`,
        `a public adapter of team ${t} that the other teams use`,
        markedSamples(`${t}-open`, "A dog in the park"),
        "PUBLIC",
      );
      const publicNotAdded = await put(
        t,
        `${t}-public-notadded`,
        `a public adapter of team ${t} that no other team added`,
        markedSamples(`${t}-shelf`, "A bird in the sky"),
        "PUBLIC",
      );
      teams[t] = {
        key: t,
        id: owners[t].teamId,
        slug: owners[t].slug,
        ownerToken: owners[t].token,
        ownerUserId: owners[t].userId,
        privateIds: priv.map((p) => p.id),
        privateNames: priv.map((p) => p.name),
        publicAdded,
        publicNotAdded,
        generationIds: [],
        markers: [m.name, m.description, m.sample, ...priv.map((p) => p.id)],
      };
    }
    const toggle = await put(
      "c",
      "c-public-toggle",
      "a public adapter of team c that tests add and remove",
      markedSamples("c-toggle", "A train in the hills"),
      "PUBLIC",
    );
    await quiver.services.pool.idle();
    const states = await prisma.adapter.findMany({ select: { name: true, status: true, _count: { select: { embeddings: true } } } });
    const unready = states.filter((s) => s.status !== "ACTIVE" || s._count.embeddings === 0);
    if (unready.length) throw new Error(`adapters not ACTIVE and embedded: ${JSON.stringify(unready)}`);

    // Every team adds the other teams' "added" public adapters to its pool.
    for (const t of TEAM_KEYS) {
      for (const o of TEAM_KEYS.filter((x) => x !== t)) {
        must(
          await ask(quiver.api, owners[t].token, `mutation($a: ID!, $t: ID) { addPublicAdapter(adapterId: $a, teamId: $t) { id } }`, {
            a: teams[o].publicAdded.id,
            t: teams[t].id,
          }),
          "addPublicAdapter",
        );
      }
    }

    // A generation of each team on its private adapters (its record names them).
    if (!storiesSkip) {
      for (const t of TEAM_KEYS) {
        const g = must(
          await ask<{ generate: { id: string } }>(quiver.api, owners[t].token, `mutation($i: GenerateInput!) { generate(input: $i) { id } }`, {
            i: { prompt: "Once upon a time", strategy: "MIXTURE", adapterIds: teams[t].privateIds, maxTokens: 2, teamId: teams[t].id },
          }),
          "generate",
        );
        teams[t].generationIds.push(g.generate.id);
        teams[t].markers.push(g.generate.id);
      }
      await quiver.services.generation!.idle();
    }
    return { quiver, url, storiesSkip, teams, toggle, files, close: () => quiver.close() };
  } catch (err) {
    await quiver.close();
    throw err;
  }
}

/** The markers of every team that `memberOf` does not include, that the request itself does not name. */
export function foreignMarkers(f: GateFixture, memberOf: readonly TeamKey[], request = ""): string[] {
  return TEAM_KEYS.filter((t) => !memberOf.includes(t)).flatMap((t) => f.teams[t].markers.filter((m) => !request.includes(m)));
}

/** The foreign markers found in a response (empty when it leaks nothing). */
export function leaks(f: GateFixture, memberOf: readonly TeamKey[], response: unknown, request = ""): string[] {
  const text = typeof response === "string" ? response : JSON.stringify(response);
  return foreignMarkers(f, memberOf, request).filter((m) => text.includes(m));
}

export interface Subscription {
  /** Payloads received so far (data or errors). */
  events: GraphQLResult[];
  /** Resolves when the subscription ends: completes, or fails with `errors`. */
  ended: Promise<{ errors?: GraphQLResult["errors"]; closed?: string }>;
  stop(): Promise<void>;
}

/** Opens a subscription over graphql-ws with the given credentials and connectionParams.team. */
export function subscribe(url: string, token: string | undefined, query: string, variables: Record<string, unknown> = {}, team?: string): Subscription {
  const client = createClient({
    url: url.replace("http", "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(team !== undefined ? { team } : {}) },
    retryAttempts: 0,
    lazy: true,
  });
  const events: GraphQLResult[] = [];
  let unsubscribe = () => {};
  const ended = new Promise<{ errors?: GraphQLResult["errors"]; closed?: string }>((resolve) => {
    unsubscribe = client.subscribe(
      { query, variables },
      {
        next: (v) => events.push({ status: 200, ...(v as object) } as GraphQLResult),
        error: (e) => {
          if (Array.isArray(e)) resolve({ errors: e as GraphQLResult["errors"] });
          else resolve({ closed: String((e as { reason?: string; code?: number }).reason ?? (e as { code?: number }).code ?? e) });
        },
        complete: () => resolve({}),
      },
    );
  });
  return {
    events,
    ended,
    stop: async () => {
      unsubscribe();
      // dispose() rethrows a connection the server refused (a revoked key's 4403): already reported through `ended`.
      await Promise.resolve(client.dispose()).catch(() => undefined);
    },
  };
}
