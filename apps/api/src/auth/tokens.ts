// Bearer secrets: session tokens ("qs_...") and API keys ("qk_<prefix>_<secret>"). Both are
// 256-bit random values stored only as SHA-256 hashes; a fast hash is right for secrets of
// that entropy (passwords, which are not, use argon2id).
import { createHash, randomBytes } from "node:crypto";

export const SESSION_PREFIX = "qs_";
export const API_KEY_PREFIX = "qk_";

export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

export function newSessionToken(): { token: string; hash: string } {
  const token = SESSION_PREFIX + randomBytes(32).toString("base64url");
  return { token, hash: sha256(token) };
}

export function newApiKey(): { key: string; prefix: string; hash: string } {
  const prefix = API_KEY_PREFIX + randomBytes(4).toString("hex");
  const key = `${prefix}_${randomBytes(32).toString("base64url")}`;
  return { key, prefix, hash: sha256(key) };
}

const sessionShape = /^qs_[A-Za-z0-9_-]{43}$/;
const apiKeyShape = /^qk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;

export type BearerKind = "session" | "apiKey";

/** Classifies a bearer value by its shape, before any database work; undefined = malformed. */
export function classifyBearer(value: string): BearerKind | undefined {
  if (sessionShape.test(value)) return "session";
  if (apiKeyShape.test(value)) return "apiKey";
  return undefined;
}
