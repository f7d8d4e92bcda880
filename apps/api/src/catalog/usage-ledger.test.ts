// The usage outbox against a store that fails on demand: writes land in order, newest
// superseding; an outage keeps them (callers answered at once) and they land when it ends; a
// write that fails for another reason is isolated and dropped after MAX_ATTEMPTS, the others
// going on.
import { jest } from "@jest/globals";
import { MAX_ATTEMPTS, UsageLedger } from "./usage-ledger.js";
import type { GenerationStore, UsageFinal, UsageProgress } from "./generations.js";

type Batch = readonly { progress?: UsageProgress; final?: UsageFinal }[];

class FakeStore {
  written: { id: string; kind: "progress" | "final"; tokensOut: number }[] = [];
  down = false;
  poison = new Set<string>();
  hang: Promise<void> | undefined;
  async writeUsage(entries: Batch): Promise<void> {
    await this.hang;
    if (this.down) throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "P1001" });
    for (const e of entries) if (this.poison.has((e.final ?? e.progress)!.generationId)) throw new Error("violates check constraint");
    for (const e of entries) {
      const w = (e.final ?? e.progress)!;
      this.written.push({ id: w.generationId, kind: e.final ? "final" : "progress", tokensOut: w.tokensOut });
    }
  }
}

const progress = (id: string, tokensOut: number): UsageProgress => ({ generationId: id, status: "DECODE", tokensIn: 3, tokensOut, reserved: 100 });
const final = (id: string, tokensOut: number): UsageFinal => ({
  generationId: id,
  status: "DONE",
  finishReason: "length",
  errorCode: null,
  tokensIn: 3,
  tokensOut,
  queueMs: 0,
  ttftMs: 1,
  totalMs: 2,
  finishedAt: new Date(),
});
const until = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

test("writes land in order, one per generation, the newest superseding", async () => {
  const store = new FakeStore();
  const ledger = new UsageLedger(store as unknown as GenerationStore, undefined, { log: () => {} });
  const a = ledger.progress(progress("a", 32));
  void ledger.progress(progress("b", 32));
  void ledger.progress(progress("a", 64)); // supersedes a's 32, same turn
  const f = ledger.finish(final("b", 40));
  expect(await a).toBe(true);
  expect(await f).toBe(true);
  expect(store.written).toEqual([
    { id: "a", kind: "progress", tokensOut: 64 },
    { id: "b", kind: "final", tokensOut: 40 },
  ]);
  expect(ledger.size).toBe(0);
});

test("an outage keeps every write, answers callers at once, and they land in order when it ends", async () => {
  const store = new FakeStore();
  const ledger = new UsageLedger(store as unknown as GenerationStore, undefined, { log: () => {} });
  store.down = true;
  expect(await ledger.progress(progress("a", 32))).toBe(false);
  await until(() => ledger.degraded);
  expect(await ledger.progress(progress("b", 32))).toBe(false); // no wait while degraded
  let committed = false;
  void ledger.finish({ ...final("a", 50), onCommitted: () => (committed = true) });
  void ledger.progress(progress("b", 64));
  expect(ledger.size).toBe(2);
  store.down = false;
  expect(await ledger.flush(5_000)).toBe(0);
  expect(ledger.degraded).toBe(false);
  expect(committed).toBe(true);
  expect(store.written).toEqual([
    { id: "a", kind: "final", tokensOut: 50 },
    { id: "b", kind: "progress", tokensOut: 64 },
  ]);
});

test("a write that fails for another reason is dropped after MAX_ATTEMPTS, alone; the others land", async () => {
  const store = new FakeStore();
  const ledger = new UsageLedger(store as unknown as GenerationStore, undefined, { log: () => {} });
  store.poison.add("bad");
  const spy = jest.spyOn(console, "error").mockImplementation(() => {});
  let dropped = false;
  const bad = ledger.finish({ ...final("bad", 7), onDropped: () => (dropped = true) });
  const good = ledger.finish(final("good", 9));
  expect(await good).toBe(true);
  expect(await bad).toBe(false);
  expect(dropped).toBe(true);
  expect(store.written).toEqual([{ id: "good", kind: "final", tokensOut: 9 }]);
  expect(spy.mock.calls.some((c) => String(c[0]).includes(`after ${MAX_ATTEMPTS} failed writes`))).toBe(true);
  spy.mockRestore();
});

test("a database that hangs does not hold callers past waitMs; the write lands later", async () => {
  const store = new FakeStore();
  let release!: () => void;
  store.hang = new Promise((r) => (release = r));
  const ledger = new UsageLedger(store as unknown as GenerationStore, undefined, { waitMs: 50, log: () => {} });
  expect(await ledger.progress(progress("a", 32))).toBe(false);
  release();
  expect(await ledger.flush(5_000)).toBe(0);
  expect(store.written).toEqual([{ id: "a", kind: "progress", tokensOut: 32 }]);
});
