// One context factory for HTTP and WebSocket operations: who asks, for which team.
import { authenticate, type Principal } from "../auth/principal.js";
import type { Services } from "../services.js";

export interface Context {
  services: Services;
  principal: Principal | undefined;
  /** The team named by the client (X-Quiver-Team / connectionParams.team), if any. */
  requestedTeamId: string | undefined;
  clientAddress: string;
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
  };
}
