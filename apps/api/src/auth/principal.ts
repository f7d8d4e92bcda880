// Who is asking: resolves an Authorization header value (HTTP) or connectionParams value
// (WebSocket) to a principal. Absent credentials give an anonymous request; present but bad
// credentials are an error, never a silent downgrade to anonymous.
import { QuiverError } from "../errors.js";
import type { IdentityStore, MembershipRecord, Role, UserRecord } from "../catalog/identity.js";
import type { Actor } from "../catalog/audit.js";
import { classifyBearer, sha256 } from "./tokens.js";

export type Principal =
  | { kind: "user"; user: UserRecord; sessionId: string; memberships: MembershipRecord[] }
  | { kind: "apiKey"; keyId: string; keyName: string; teamId: string; role: Role; createdById: string };

/** Who acted, for the audit log. */
export function actorOf(p: Principal): Actor {
  return p.kind === "user" ? { userId: p.user.id } : { apiKeyId: p.keyId };
}

/** Last-used times are written at most this often per credential, to keep reads read-only. */
const TOUCH_INTERVAL_MS = 60_000;

export function parseAuthorization(header: unknown): string | undefined {
  if (header === undefined || header === null || header === "") return undefined;
  if (typeof header !== "string") throw new QuiverError("UNAUTHENTICATED", "Malformed Authorization value: expected a string.");
  const m = /^Bearer ([^\s]+)$/i.exec(header.trim());
  if (!m) throw new QuiverError("UNAUTHENTICATED", 'Malformed Authorization header: expected "Bearer <token or API key>".');
  return m[1];
}

export async function authenticate(identity: IdentityStore, header: unknown): Promise<Principal | undefined> {
  const bearer = parseAuthorization(header);
  if (bearer === undefined) return undefined;
  const kind = classifyBearer(bearer);
  if (!kind) throw new QuiverError("UNAUTHENTICATED", "Malformed bearer token.");
  const now = new Date();
  if (kind === "session") {
    const session = await identity.findLiveSession(sha256(bearer), now);
    if (!session) throw new QuiverError("UNAUTHENTICATED", "The session token is invalid or has expired. Sign in again.");
    if (!session.lastUsedAt || now.getTime() - session.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
      await identity.touchSession(session.id, now);
    }
    return { kind: "user", user: session.user, sessionId: session.id, memberships: session.memberships };
  }
  const key = await identity.findLiveApiKey(sha256(bearer), now);
  if (!key) throw new QuiverError("UNAUTHENTICATED", "The API key is invalid, revoked or expired.");
  if (!key.lastUsedAt || now.getTime() - key.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) await identity.touchApiKey(key.id, now);
  return { kind: "apiKey", keyId: key.id, keyName: key.name, teamId: key.teamId, role: key.role, createdById: key.createdById };
}

let epoch = 0;

/** Bumped whenever this process changes who may do what (sign-out, key revoked, role changed, member removed). */
export function accessEpoch(): number {
  return epoch;
}

export function accessChanged(): void {
  epoch++;
}
