// Whether the database is in reach, for the parts that must keep going without it: the
// usage outbox (catalog/usage-ledger.ts) holds writes while it is down, the HTTP gate answers
// new requests DATABASE_UNAVAILABLE (503, Retry-After), and /healthz names the problem
// (services.health.degrade("database", ...)). The first failure that means "out of reach"
// (a refused or closed connection, a server shutting down or starting up, a pool timeout)
// marks it down; from then a probe (`SELECT 1`) runs every PROBE_MS until it answers, and
// the watch calls its `up` listeners (the outbox flushes, the instance lock is taken again).
// No restart is needed.
import { QuiverError } from "../errors.js";
import type { HealthState } from "../observability/health-state.js";
import type { PrismaClient } from "./generated/client.js";

/** How often a down database is probed. */
export const PROBE_MS = 500;
/** What DATABASE_UNAVAILABLE answers ask a client to wait (Retry-After), seconds. */
export const DATABASE_RETRY_AFTER_SECONDS = 2;

/** Driver adapter error kinds and SQLSTATEs that mean the server is out of reach (not a bad query). */
const unreachableKinds = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "TlsConnectionError"]);
// 08xxx connection exceptions; 57P01-57P03 admin shutdown, crash shutdown, cannot connect now (starting or stopping).
const unreachableStates = /^(08...|57P0[123])$/;
// Prisma's own: can't reach (P1001), timed out (P1002), server closed the connection (P1017), pool timeout (P2024).
const unreachablePrismaCodes = new Set(["P1001", "P1002", "P1017", "P2024"]);
const unreachableMessages =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Can't reach database server|Connection terminated|connection (is )?closed|terminating connection|the database system is (starting up|shutting down|in recovery mode)|Client has encountered a connection error|Timed out fetching a new connection|server closed the connection/i;

/** Whether an error from a catalog call means "the database is out of reach" (retry later), not "this query is wrong". */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && typeof e === "object" && depth < 5; depth++) {
    if (e instanceof QuiverError) return e.code === "DATABASE_UNAVAILABLE";
    const code = typeof e.code === "string" ? e.code : undefined;
    if (code && unreachablePrismaCodes.has(code)) return true;
    const adapter = (e.meta as { driverAdapterError?: { cause?: { kind?: string; code?: string; originalCode?: string } } } | undefined)?.driverAdapterError
      ?.cause;
    if (adapter) {
      if (adapter.kind && unreachableKinds.has(adapter.kind)) return true;
      const state = adapter.originalCode ?? adapter.code;
      if (state && unreachableStates.test(state)) return true;
    }
    if (code && unreachableStates.test(code)) return true;
    if (typeof e.kind === "string" && unreachableKinds.has(e.kind)) return true;
    if (typeof e.message === "string" && unreachableMessages.test(e.message)) return true;
    e = e.cause as Record<string, unknown> | undefined;
  }
  return false;
}

/** The coded error new requests get while the database is out of reach. */
export function databaseUnavailable(reason?: string): QuiverError {
  return new QuiverError("DATABASE_UNAVAILABLE", "The database is out of reach; requests in progress continue, new ones cannot start. Try again shortly.", {
    details: { retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS, ...(reason ? { reason } : {}) },
  });
}

export class DatabaseWatch {
  private isDown = false;
  private probing: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<() => void>();
  private upAt = 0;
  private closed = false;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly health: HealthState | undefined,
    private readonly options: { probeMs?: number; log?: (line: string) => void } = {},
  ) {}

  /** Whether the database is out of reach now (new requests are refused meanwhile). */
  get down(): boolean {
    return this.isDown;
  }

  /** Milliseconds since the database last came back after an outage (Infinity when it never went down). */
  get sinceUpMs(): number {
    return this.upAt === 0 ? Infinity : Date.now() - this.upAt;
  }

  /**
   * Reports a catalog error: when it means the database is out of reach, marks it down
   * (health "database"), starts probing, and returns true; otherwise returns false.
   */
  failed(err: unknown): boolean {
    if (!isDatabaseUnavailable(err)) return false;
    const reason = `the database is out of reach: ${
      String((err as Error).message ?? err)
        .split("\n")
        .filter((l) => l.trim())
        .at(-1)
        ?.trim() ?? "unknown error"
    }`;
    if (!this.isDown) {
      this.isDown = true;
      this.log(`[database] ${reason}; new requests get DATABASE_UNAVAILABLE, usage waits in memory until it is back`);
    }
    this.health?.degrade("database", reason);
    this.probe();
    return true;
  }

  /** Calls `listener` each time the database comes back. */
  onUp(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops probing (shutdown). */
  close(): void {
    this.closed = true;
    if (this.probing) clearTimeout(this.probing);
    this.probing = undefined;
  }

  private probe(): void {
    if (this.probing || this.closed) return;
    this.probing = setTimeout(() => {
      this.prisma.$queryRaw`SELECT 1`.then(
        () => {
          this.probing = undefined;
          if (!this.isDown) return;
          this.isDown = false;
          this.upAt = Date.now();
          this.health?.recover("database");
          this.log("[database] back in reach");
          for (const l of [...this.listeners]) {
            try {
              l();
            } catch (err) {
              console.error("[database] a recovery listener failed:", err);
            }
          }
        },
        () => {
          this.probing = undefined;
          if (this.isDown) this.probe();
        },
      );
    }, this.options.probeMs ?? PROBE_MS);
    this.probing.unref();
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => console.error(l)))(line);
  }
}
