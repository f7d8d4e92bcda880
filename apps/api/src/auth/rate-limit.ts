// Fixed-window counters per key, in memory (one API process), and the login limiter built
// from them: password guessing is slowed per client address and email, per address across
// emails (spraying) and per email across addresses (a distributed guess at one account).
import { isIPv4, isIPv6 } from "node:net";
import { QuiverError } from "../errors.js";

/** Keys kept at most; past this the oldest windows are dropped (a flood of new keys cannot grow memory). */
const MAX_KEYS = 100_000;

export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  /** The size at which expired windows are next swept out (amortised: doubles with the live ones). */
  private pruneAt = 10_000;

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Counts one attempt for `key`; throws RATE_LIMITED past the limit. */
  hit(key: string, now = Date.now()): void {
    this.check(key, now);
    this.count(key, now);
  }

  /** Throws RATE_LIMITED (with details.retryAfterSeconds) when `key` has used its attempts in this window. */
  check(key: string, now = Date.now()): void {
    const retryAfter = this.retryAfterSeconds(key, now);
    if (retryAfter !== undefined) {
      throw new QuiverError("RATE_LIMITED", `Too many attempts; try again in ${retryAfter} s.`, { details: { retryAfterSeconds: retryAfter } });
    }
  }

  /** Seconds until `key` may try again, or undefined while it has attempts left. */
  retryAfterSeconds(key: string, now = Date.now()): number | undefined {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs || w.count < this.limit) return undefined;
    return Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
  }

  /** Counts one attempt for `key` without checking. */
  count(key: string, now = Date.now()): void {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size >= this.pruneAt) this.prune(now);
      this.windows.delete(key);
      this.windows.set(key, { start: now, count: 1 });
      return;
    }
    w.count++;
  }

  /** Takes back one attempt counted for `key` in its current window. */
  refund(key: string, now = Date.now()): void {
    const w = this.windows.get(key);
    if (w && now - w.start < this.windowMs && w.count > 0) w.count--;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
    // Still full of live windows: drop the oldest half (Map order is insertion order).
    if (this.windows.size >= MAX_KEYS / 2) {
      for (const k of this.windows.keys()) {
        if (this.windows.size < MAX_KEYS / 2) break;
        this.windows.delete(k);
      }
    }
    this.pruneAt = Math.min(MAX_KEYS, Math.max(10_000, this.windows.size * 2));
  }
}

/**
 * The part of a client address that identifies one client: an IPv4 address as is (also when
 * IPv4-mapped, ::ffff:a.b.c.d), an IPv6 address by its /64 prefix, since one host commonly
 * holds a whole /64 and could otherwise spray from as many addresses as it likes.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = "", tail = ""] = address.split("%")[0]!.split("::");
  const headParts = head ? head.split(":") : [];
  const tailParts = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill("0"), ...tailParts] : headParts;
  return `${groups
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16))
    .join(":")}::/64`;
}

export interface LoginLimits {
  /** Attempts per address and email (all of them, failed or not) per `pairWindowMs`. */
  perPair: number;
  pairWindowMs: number;
  /** Failed attempts per client address, any emails, per `windowMs`. */
  perAddress: number;
  /** Failed attempts per email, from any addresses, per `windowMs`. */
  perEmail: number;
  windowMs: number;
}

export const defaultLoginLimits: LoginLimits = { perPair: 10, pairWindowMs: 60_000, perAddress: 20, perEmail: 20, windowMs: 15 * 60_000 };

/**
 * Login attempts in three dimensions. An attempt is counted in all three before the password
 * is checked (so concurrent attempts count too); a successful one is taken back from the
 * address and email counters, which therefore count failures: signing in often is no abuse,
 * guessing is. A refused attempt counts nowhere.
 */
export class LoginLimiter {
  private readonly pair: RateLimiter;
  private readonly address: RateLimiter;
  private readonly email: RateLimiter;

  constructor(readonly limits: LoginLimits = defaultLoginLimits) {
    this.pair = new RateLimiter(limits.perPair, limits.pairWindowMs);
    this.address = new RateLimiter(limits.perAddress, limits.windowMs);
    this.email = new RateLimiter(limits.perEmail, limits.windowMs);
  }

  /** Counts an attempt; throws RATE_LIMITED (the longest wait of the limits reached) when any limit is reached. */
  attempt(clientAddress: string, email: string, now = Date.now()): { succeeded(): void } {
    const addr = addressKey(clientAddress);
    const mail = email.trim().toLowerCase();
    const keys = [
      { limiter: this.pair, key: `${addr}|${mail}`, what: "for this address and email" },
      { limiter: this.address, key: addr, what: "from this address" },
      { limiter: this.email, key: mail, what: "for this email" },
    ];
    let worst: { seconds: number; what: string; limit: number } | undefined;
    for (const k of keys) {
      const seconds = k.limiter.retryAfterSeconds(k.key, now);
      if (seconds !== undefined && (!worst || seconds > worst.seconds)) worst = { seconds, what: k.what, limit: k.limiter.limit };
    }
    if (worst) {
      throw new QuiverError("RATE_LIMITED", `Too many sign-in attempts ${worst.what}; try again in ${worst.seconds} s.`, {
        details: { retryAfterSeconds: worst.seconds, limit: worst.limit },
      });
    }
    for (const k of keys) k.limiter.count(k.key, now);
    return {
      succeeded: () => {
        this.address.refund(addr, now);
        this.email.refund(mail, now);
      },
    };
  }
}
