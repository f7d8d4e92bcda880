// Recovery after a crash or restart, at start and (several processes sharing PostgreSQL)
// every RECONCILE_MS:
//  - generations left QUEUED, PREFILL or DECODE by a process that is gone end FAILED with
//    finishReason "interrupted" and errorCode "INTERRUPTED", billed what their progress
//    writes billed (every token their clients received, at most BILL_AHEAD more: see
//    generation/usage-meter.ts). "Gone" is exact: each process holds an advisory lock on its
//    owner id for as long as it lives (catalog/instance-lock.ts); a generation whose owner's
//    lock is free is reconciled, one whose owner lives is not. With embedded PGlite only one
//    process opens the data directory, so every such generation at start is an orphan.
//  - adapter versions left PENDING are embedded again and activated, or FAILED with the
//    reason (pool/service.ts recoverPending).
// After a PostgreSQL restart every lock is briefly free: the reconciliation waits until the
// server has been up LOCK_SETTLE_MS (live processes take their locks again within a second).
import type { Services } from "./services.js";
import { InstanceLock } from "./catalog/instance-lock.js";

export const RECONCILE_MS = 30_000;
export const LOCK_SETTLE_MS = 5_000;
/** On PostgreSQL, a version PENDING this long is taken to be a dead process's (an upload's embedding takes seconds). */
export const PENDING_STALE_MS = 2 * 60_000;
/** A PENDING version no server here can finish fails after this long (PGlite: at once). */
export const UNSERVABLE_FAIL_MS = 60 * 60_000;

export class Recovery {
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private lock: InstanceLock | undefined;
  private stopUp: (() => void) | undefined;

  private constructor(
    private readonly services: Services,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Takes this process's instance lock, ends the orphaned generations and resumes PENDING
   * adapters (before the API admits anything), then, on PostgreSQL, repeats every RECONCILE_MS.
   */
  static async start(services: Services, log: (line: string) => void): Promise<Recovery> {
    const r = new Recovery(services, log);
    r.lock = await InstanceLock.open(services.catalog, services.quotas.holder, log);
    r.stopUp = services.database.onUp(() => r.lock?.reacquire());
    try {
      await r.reconcile(true);
    } catch (err) {
      log(`[recovery] reconciling at start failed: ${(err as Error).message}`);
    }
    if (services.catalog.kind === "postgres") {
      r.timer = setInterval(() => {
        r.pass ??= r
          .reconcile(false)
          .catch((err: unknown) => {
            if (!services.database.failed(err)) console.error("[recovery] reconciling failed:", err);
          })
          .finally(() => (r.pass = undefined));
      }, RECONCILE_MS);
      r.timer.unref();
    }
    return r;
  }

  /** One pass: orphaned generations, then PENDING adapter versions. */
  async reconcile(atStart: boolean): Promise<void> {
    const s = this.services;
    if (s.database.down) return;
    const postgres = s.catalog.kind === "postgres";
    if (postgres && (!this.lock?.held || s.database.sinceUpMs < LOCK_SETTLE_MS || (await s.generations.serverUptimeMs()) < LOCK_SETTLE_MS)) {
      if (atStart)
        this.log(`[recovery] the database restarted moments ago: reconciling in ${RECONCILE_MS / 1000} s, once every live process holds its lock again`);
      return;
    }
    const ended = await s.generations.reconcileOrphans(s.quotas.holder);
    if (ended.length) {
      const tokens = ended.reduce((a, g) => a + g.tokensIn + g.tokensOut, 0);
      const owners = new Set(ended.map((g) => g.owner ?? "unknown")).size;
      this.log(
        `[recovery] ended ${ended.length} generations that ${owners === 1 ? "a stopped process" : `${owners} stopped processes`} left running (FAILED, INTERRUPTED), billed ${tokens} tokens`,
      );
    }
    const adapters = await s.pool.recoverPending({
      olderThanMs: postgres ? (atStart ? 0 : PENDING_STALE_MS) : 0,
      failUnservableAfterMs: postgres ? UNSERVABLE_FAIL_MS : 0,
    });
    if (adapters.resumed || adapters.failed) {
      this.log(
        `[recovery] adapter versions left PENDING: ${adapters.resumed} being embedded again, ${adapters.failed} FAILED (this server cannot finish them)`,
      );
    }
  }

  /** Stops the periodic passes (shutdown; the lock stays held until `close`). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.pass;
  }

  /** Releases the instance lock: call once this process's usage is written (its generations are then ended). */
  async close(): Promise<void> {
    await this.stop();
    this.stopUp?.();
    await this.lock?.close();
  }
}
