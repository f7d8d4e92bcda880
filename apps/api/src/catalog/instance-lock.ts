// This process's liveness, as other API processes sharing the PostgreSQL server see it: a
// session-level advisory lock on the process's owner id (QuotaStore.holder, recorded on every
// generation it admits as Generation.owner), held on a connection of its own. PostgreSQL
// releases it the moment that connection ends: when the process exits or is killed (the
// kernel closes its sockets), or, for a host that vanishes, when the server's TCP keepalive
// gives up (this session asks for about a minute: tcp_keepalives_*). Recovery
// (GenerationStore.reconcileOrphans) ends only generations whose owner's lock is free.
//
// A PostgreSQL restart drops every session and so every lock: the lock is taken again as soon
// as the server answers (reconnecting every RECONNECT_MS, and at once when the database watch
// sees it back), and recovery waits until the server has been up LOCK_SETTLE_MS before it
// trusts a free lock (recovery.ts). Embedded PGlite serves one process per data directory:
// nothing to hold there.
import pg from "pg";
import type { Catalog } from "./database.js";

export const RECONNECT_MS = 500;

export class InstanceLock {
  private client: pg.Client | undefined;
  private closed = false;
  private retry: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;

  private constructor(
    private readonly url: string,
    private readonly owner: string,
    private readonly log: (line: string) => void,
  ) {}

  /** Takes the lock (PostgreSQL); undefined for PGlite, where there is nothing to hold. */
  static async open(catalog: Catalog, owner: string, log: (line: string) => void = (l) => console.error(l)): Promise<InstanceLock | undefined> {
    if (catalog.kind !== "postgres" || !catalog.databaseUrl) return undefined;
    const lock = new InstanceLock(catalog.databaseUrl, owner, log);
    await lock.connect();
    return lock;
  }

  /** Whether the lock is held now. */
  get held(): boolean {
    return this.client !== undefined;
  }

  /** Takes the lock again now if it was lost (the database watch saw the server back). */
  reacquire(): void {
    if (this.held || this.closed) return;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    void this.attempt();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    await this.connecting?.catch(() => undefined);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  private attempt(): Promise<void> {
    this.connecting ??= this.connect()
      .then(() => this.log("[instance] the instance lock is held again"))
      .catch(() => this.later())
      .finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url, application_name: "quiver-instance-lock", keepAlive: true });
    c.on("error", () => this.lost(c));
    c.on("end", () => this.lost(c));
    try {
      await c.connect();
      // Let the server notice a vanished host within about a minute (ignored where not allowed).
      await c.query("SET tcp_keepalives_idle = 30; SET tcp_keepalives_interval = 10; SET tcp_keepalives_count = 3").catch(() => undefined);
      await c.query("SELECT pg_advisory_lock(hashtextextended($1::text, 0))", [this.owner]);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await c.end().catch(() => undefined);
      return;
    }
    this.client = c;
  }

  private lost(c: pg.Client): void {
    if (this.client !== c) return;
    this.client = undefined;
    if (this.closed) return;
    this.log("[instance] the instance lock's connection ended; taking the lock again when the database answers");
    this.later();
  }

  private later(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.attempt();
    }, RECONNECT_MS);
    this.retry.unref();
  }
}
