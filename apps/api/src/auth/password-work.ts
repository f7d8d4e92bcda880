// Password hashing (argon2id, 19 MiB and tens of milliseconds each) is the most expensive
// thing an anonymous caller can ask for. All of it in this process goes through one gate: a
// few hashes at a time, a bounded queue behind them, and RATE_LIMITED past the queue, so a
// login flood cannot take every CPU and libuv thread or grow memory without bound.
import { QuiverError } from "../errors.js";

export interface WorkGateLimits {
  /** Tasks running at once. */
  concurrency: number;
  /** Tasks waiting for a slot; one more is refused. */
  maxQueue: number;
}

export class WorkGate {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private limits: WorkGateLimits,
    private readonly what = "password checks",
  ) {}

  configure(limits: WorkGateLimits): void {
    this.limits = limits;
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` when a slot is free; throws RATE_LIMITED (retry after 1 s) when the queue is full. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.limits.concurrency) {
      this.active++;
    } else if (this.waiting.length < this.limits.maxQueue) {
      // The slot is handed over by the task that frees it (active stays as it is).
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      throw new QuiverError(
        "RATE_LIMITED",
        `The server is busy with ${this.what} (${this.active} running, ${this.waiting.length} waiting); try again in 1 s.`,
        {
          details: { retryAfterSeconds: 1, limit: "passwordHashQueue", max: this.limits.maxQueue },
        },
      );
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** The process's one gate for argon2 work (QUIVER_PASSWORD_HASH_CONCURRENCY / _QUEUE; the API server configures it at start). */
export const passwordWork = new WorkGate({ concurrency: 2, maxQueue: 32 });
