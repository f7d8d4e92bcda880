// One context factory for HTTP and WebSocket operations: who asks, for which team.
import { accessEpoch, authenticate, type Principal } from "../auth/principal.js";
import { QuiverError } from "../errors.js";
import { resolveScope, viewerOf, type Action, type TeamScope, type Viewer } from "../auth/policy.js";
import type { Services } from "../services.js";

export interface Context {
  services: Services;
  principal: Principal | undefined;
  /** The team named by the client (X-Quiver-Team / connectionParams.team), if any. */
  requestedTeamId: string | undefined;
  clientAddress: string;
  /** The credentials as sent, so that long-lived subscriptions can check them again. */
  authorization: unknown;
  /** Set by `login`, so that its payload may show the new session's user in full. */
  signedInUserId?: string;
}

export async function createContext(
  services: Services,
  input: { authorization: unknown; team: unknown; clientAddress: string | undefined },
): Promise<Context> {
  return {
    services,
    principal: await authenticate(services.identity, input.authorization),
    requestedTeamId: typeof input.team === "string" && input.team !== "" ? input.team : undefined,
    clientAddress: input.clientAddress ?? "unknown",
    authorization: input.authorization,
  };
}

/** The caller as a viewer; a team header naming a team the caller is not in is refused. */
export function viewer(ctx: Context): Viewer {
  if (ctx.requestedTeamId !== undefined) resolveScope(ctx.principal, { header: ctx.requestedTeamId }, "team.read");
  return viewerOf(ctx.principal);
}

/** The team this operation acts in (a team argument, else the header, else the default), checked by the gate. */
export function scope(ctx: Context, action: Action, argument?: string | null): TeamScope {
  return resolveScope(ctx.principal, { argument, header: ctx.requestedTeamId }, action);
}

/** How often an open subscription re-reads its credentials when nothing changed in this process. */
const RECHECK_MS = 1000;

/**
 * Access for a long-lived subscription, checked again before each event it sends: the
 * session, key and memberships are read afresh (for token streams: whenever this process
 * changed any access (accessEpoch) or a second has passed, a change made by another process;
 * with `everyEvent`, before every event), and `stillAllowed` runs with the fresh principal. A session ended, a key revoked, a member demoted or removed
 * ends the subscription with ACCESS_REVOKED.
 */
export function accessCheck(ctx: Context, stillAllowed: () => unknown, options: { everyEvent?: boolean } = {}): () => Promise<void> {
  let epoch = accessEpoch();
  let checkedAt = Date.now();
  return async () => {
    if (!options.everyEvent && epoch === accessEpoch() && Date.now() - checkedAt < RECHECK_MS) return;
    if (ctx.services.database.down) return;
    epoch = accessEpoch();
    checkedAt = Date.now();
    try {
      ctx.principal = await authenticate(ctx.services.identity, ctx.authorization);
      await stillAllowed();
    } catch (err) {
      // The database out of reach: nothing can be re-read, and nothing can change meanwhile;
      // the stream goes on with the access it had (checked again once the database is back).
      if (ctx.services.database.failed(err)) return;
      if (err instanceof QuiverError && ["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"].includes(err.code)) {
        throw new QuiverError("ACCESS_REVOKED", `Your access changed while this subscription was open: ${err.message}`);
      }
      throw err;
    }
  };
}
