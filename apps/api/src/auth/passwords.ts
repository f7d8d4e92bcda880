// Passwords: argon2id (OWASP's recommended parameters: 19 MiB memory, 2 passes, 1 lane).
import { hash, verify } from "@node-rs/argon2";
import { passwordWork } from "./password-work.js";

const options = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return passwordWork.run(() => hash(password, options));
}

/** A hash of a random password, verified against when the user does not exist, so that a
 * login for an unknown email costs as much as one with a wrong password. */
let decoy: Promise<string> | undefined;

export async function verifyPassword(passwordHash: string | undefined, password: string): Promise<boolean> {
  if (passwordHash === undefined) {
    decoy ??= hash(`decoy-${Math.random()}`, options); // once per process, outside the gate
    const decoyHash = await decoy;
    await passwordWork.run(() => verify(decoyHash, password).catch(() => false));
    return false;
  }
  return passwordWork.run(() => verify(passwordHash, password).catch(() => false));
}

export const passwordRules = { minLength: 12, maxLength: 256 } as const;
