// First start on an empty database: create the administrator and a team they own.
import { randomBytes } from "node:crypto";
import { hashPassword } from "./auth/passwords.js";
import type { Config } from "./config.js";
import type { IdentityStore } from "./catalog/identity.js";

export interface BootstrapResult {
  email: string;
  /** Set only when the password was generated here; print it once, never log it again. */
  generatedPassword?: string;
}

export async function bootstrapAdmin(identity: IdentityStore, config: Config): Promise<BootstrapResult | undefined> {
  if ((await identity.countUsers()) > 0) return undefined;
  const email = config.QUIVER_ADMIN_EMAIL ?? "admin@quiver.local";
  const generatedPassword = config.QUIVER_ADMIN_PASSWORD ? undefined : randomBytes(18).toString("base64url");
  const password = config.QUIVER_ADMIN_PASSWORD ?? generatedPassword!;
  const created = await identity.bootstrapAdmin({
    email,
    passwordHash: await hashPassword(password),
    teamName: "Default",
    teamSlug: "default",
  });
  if (!created) return undefined; // another process bootstrapped first
  return { email: created.email, ...(generatedPassword ? { generatedPassword } : {}) };
}
