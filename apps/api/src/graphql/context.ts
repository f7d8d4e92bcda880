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

export async function createContext(services: Services, input: { authorization: unknown; team: unknown; clientAddress: string | undefined }): Promise<Context> {
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
  return viewerOf(ctx.principal, ctx.requestedTeamId);
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

/**
 * A subscription's stream of events: each checked by `access` before it is sent, and mapped.
 * An iterator written out, not an async generator: a generator's return() waits until its
 * pending `await` settles (the next event), so a client that unsubscribed or disconnected
 * would be let go only when its stream next had something to say (a queued generation
 * admitted and prefilled, a pool event) and, if that never came, kept its listener for good.
 * Here return() closes the source at once (which cancels a `generate` stream's generation).
 */
export function guardedStream<T, U>(events: AsyncIterableIterator<T>, access: () => Promise<void>, map: (e: T) => U): AsyncIterableIterator<U> {
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await events.return?.();
  };
  const end = { value: undefined, done: true } as const;
  return {
    next: async () => {
      if (closed) return end;
      try {
        const r = await events.next();
        if (r.done || closed) {
          await close();
          return end;
        }
        await access();
        return { value: map(r.value), done: false };
      } catch (err) {
        await close();
        throw err;
      }
    },
    return: async () => {
      await close();
      return end;
    },
    throw: async (err: unknown) => {
      await close();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
