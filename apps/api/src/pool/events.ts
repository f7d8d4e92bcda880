// Pool events for the dashboard's live view: an in-process publish/subscribe with a bounded
// queue per subscriber. Payloads carry ids only; subscribers read the adapter through the
// ordinary (permission-checked) resolvers.
export type PoolEventKind = "ADDED" | "UPDATED" | "REMOVED";

export interface PoolEvent {
  kind: PoolEventKind;
  adapterId: string;
  teamId: string;
  visibility: "PRIVATE" | "PUBLIC";
  /** Visibility before this change, when it changed. */
  previousVisibility?: "PRIVATE" | "PUBLIC";
}

type Listener = (e: PoolEvent) => void;

const MAX_QUEUED = 1000;

export class PoolEvents {
  private readonly listeners = new Set<Listener>();

  publish(e: PoolEvent): void {
    for (const l of this.listeners) l(e);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  /**
   * Events a member of `teamId` may see: all of its team's, and other teams' PUBLIC
   * adapters' (an adapter turning PRIVATE reaches other teams as REMOVED).
   */
  subscribe(teamId: string): AsyncIterableIterator<PoolEvent> {
    const queue: PoolEvent[] = [];
    let wake: ((r: IteratorResult<PoolEvent>) => void) | undefined;
    let done = false;
    const listener: Listener = (e) => {
      let visible: PoolEvent | undefined;
      if (e.teamId === teamId) visible = e;
      else if (e.visibility === "PUBLIC") visible = e;
      else if (e.previousVisibility === "PUBLIC") visible = { ...e, kind: "REMOVED" };
      if (!visible) return;
      if (wake) {
        const w = wake;
        wake = undefined;
        w({ value: visible, done: false });
      } else if (queue.length < MAX_QUEUED) {
        queue.push(visible);
      }
    };
    this.listeners.add(listener);
    const finish = (): Promise<IteratorResult<PoolEvent>> => {
      done = true;
      this.listeners.delete(listener);
      wake?.({ value: undefined, done: true });
      wake = undefined;
      return Promise.resolve({ value: undefined, done: true });
    };
    return {
      next: () => {
        if (queue.length) return Promise.resolve({ value: queue.shift()!, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (wake = resolve));
      },
      return: finish,
      throw: (err?: unknown) => finish().then(() => Promise.reject(err)),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}
