// Faults stay with the requests they hit: the fake engine behind the test-only fault hook
// (engine-faults.ts) fails steps, sequence creations, adapter loads and logits, and re-creates
// the engine; the other requests end with the tokens they have without the fault, and the
// scheduler keeps serving. Cancellation acts at once; adapter loads run beside the steps.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { FakeEngine } from "./fake-engine.js";
import { FaultInjectingPort, type FaultPlan } from "./engine-faults.js";
import { Scheduler, type GenerationRequest, type SchedulerEvent, type SchedulerOptions } from "./scheduler.js";
import type { PortStepItem, PortStepResult } from "./engine-port.js";

let n = 0;
function request(over: Partial<GenerationRequest> = {}, seed = 7): GenerationRequest {
  return {
    id: `r${++n}`,
    teamId: "team-a",
    prompt: [1, 104, 105],
    sampling: { temperature: 0, topK: 0, topP: 1, seed },
    maxTokens: 5,
    stopSequences: [],
    strategy: "none",
    adapters: [],
    ...over,
  };
}

type Done = Extract<SchedulerEvent, { type: "done" }>;
function run(s: Scheduler, req: GenerationRequest) {
  const events: SchedulerEvent[] = [];
  let cancel = () => {};
  const done = new Promise<{ text: string; done: Done }>((resolve) => {
    const handle = s.submit(req, (e) => {
      events.push(e);
      if (e.type === "done") resolve({ text: events.map((x) => (x.type === "delta" ? x.text : "")).join(""), done: e });
    });
    cancel = handle.cancel;
  });
  return { done, cancel: () => cancel(), events };
}

const options = (over: Partial<SchedulerOptions> = {}): SchedulerOptions => ({
  maxBatch: 2,
  maxQueue: 100,
  tokenBudget: 64,
  prefillChunk: 64,
  adapterBudget: 8,
  resetAfterFailures: 3,
  resetBackoffMs: 20,
  ...over,
});

/** A fake engine whose steps wait while held. */
class HeldEngine extends FakeEngine {
  private gate: Promise<void> = Promise.resolve();
  private release = () => {};
  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release();
    this.gate = Promise.resolve();
  }
  override async step(items: PortStepItem[]): Promise<PortStepResult[]> {
    await this.gate;
    return super.step(items);
  }
}

/** What each seed's request writes on a clean engine (the reference for "completes exactly"). */
async function reference(reqs: GenerationRequest[]): Promise<string[]> {
  const s = new Scheduler(new FakeEngine(), options({ maxBatch: 8 }));
  return (await Promise.all(reqs.map((r) => run(s, { ...r, id: `${r.id}-ref` }).done))).map((r) => r.text);
}

function withFaults(plan: FaultPlan, over: Partial<SchedulerOptions> = {}) {
  const engine = new FakeEngine();
  engine.stepDelayMs = 1;
  const port = new FaultInjectingPort(engine, plan, (on) => engine.poisonLogits(on));
  const health: string[] = [];
  const lines: string[] = [];
  const scheduler = new Scheduler(port, options(over), {
    health: { degrade: (c, reason) => health.push(`degrade ${c}: ${reason}`), recover: (c) => health.push(`recover ${c}`) },
    log: (line) => lines.push(line),
  });
  return { engine, port, scheduler, health, lines };
}

test("a failed step fails only its requests, with ENGINE_ERROR; queued requests then complete exactly and the scheduler keeps serving", async () => {
  const reqs = [1, 2, 3, 4].map((seed) => request({ maxTokens: 6 }, seed));
  const clean = await reference(reqs);
  const { scheduler, port, engine } = withFaults({ failSteps: { count: 1, seed: 1 } });
  const results = await Promise.all(reqs.map((r) => run(scheduler, r).done));
  // 1 and 2 shared the batch (maxBatch 2) and its failed step; 3 and 4 were queued.
  for (const r of results.slice(0, 2)) expect(r.done).toMatchObject({ finishReason: "error", error: { code: "ENGINE_ERROR" } });
  expect(results.slice(2).map((r) => r.text)).toEqual(clean.slice(2));
  expect(port.counters.failedSteps).toBe(1);
  expect((await run(scheduler, request({}, 1)).done).text).toBe((await reference([request({}, 1)]))[0]);
  expect(scheduler.stats).toMatchObject({ queued: 0, running: 0, failedSteps: 1, engineResets: 0 });
  expect(engine.liveSequences).toBe(0);
});

test("a failed createSequence fails its request alone; the running one completes exactly and nothing is left held", async () => {
  const long = request({ maxTokens: 30, strategy: "selection", adapters: [{ key: "k1", dir: "/adapters/1", weight: 1 }] }, 1);
  const victim = request({ strategy: "selection", adapters: [{ key: "k2", dir: "/adapters/2", weight: 1 }] }, 2);
  const [clean] = await reference([long]);
  const { scheduler, engine, port } = withFaults({ failCreateSequence: { seed: 2 } });
  const a = run(scheduler, long);
  while (!a.events.some((e) => e.type === "delta")) await new Promise((r) => setTimeout(r, 1));
  const b = await run(scheduler, victim).done;
  expect(b.done).toMatchObject({ finishReason: "error", error: { code: "ENGINE_ERROR" }, tokensOut: 0 });
  expect((await a.done).text).toBe(clean);
  expect(port.counters.failedCreateSequence).toBe(1);
  expect(scheduler.stats).toMatchObject({ queued: 0, running: 0 });
  expect(engine.liveSequences).toBe(0);
  // The victim's adapter use was given back: two more distinct adapters fit the slots.
  const more = await Promise.all(
    ["3", "4", "5"].map((k) => run(scheduler, request({ strategy: "selection", adapters: [{ key: `k${k}`, dir: `/adapters/${k}`, weight: 1 }] })).done),
  );
  expect(more.every((r) => r.done.finishReason === "length")).toBe(true);
});

test("a failed adapter load fails the request that needs it; the others complete exactly", async () => {
  const others = [1, 2, 3].map((seed) => request({ maxTokens: 8 }, seed));
  const clean = await reference(others);
  const { scheduler } = withFaults({ failAdapterLoad: { dir: "/adapters/bad", code: "OUT_OF_MEMORY" } }, { maxBatch: 4 });
  const runs = others.map((r) => run(scheduler, r));
  const bad = await run(scheduler, request({ strategy: "selection", adapters: [{ key: "bad", dir: "/adapters/bad", weight: 1 }] })).done;
  expect(bad.done).toMatchObject({ finishReason: "error", error: { code: "OUT_OF_MEMORY" } });
  expect((await Promise.all(runs.map((r) => r.done))).map((r) => r.text)).toEqual(clean);
  // Loaded on a later try (the fault fired once).
  expect((await run(scheduler, request({ strategy: "selection", adapters: [{ key: "bad", dir: "/adapters/bad", weight: 1 }] })).done).done.finishReason).toBe(
    "length",
  );
});

test("NaN logits fail their sequence with NON_FINITE; its batch mates complete exactly", async () => {
  const mates = [1, 2, 3].map((seed) => request({ maxTokens: 10 }, seed));
  const clean = await reference(mates);
  const { scheduler } = withFaults({ nanLogits: { seed: 66 } }, { maxBatch: 4 });
  const runs = [...mates, request({ maxTokens: 10 }, 66)].map((r) => run(scheduler, r));
  const results = await Promise.all(runs.map((r) => r.done));
  expect(results[3]!.done).toMatchObject({ finishReason: "error", error: { code: "NON_FINITE" } });
  expect(results.slice(0, 3).map((r) => r.text)).toEqual(clean);
});

test("repeated failed steps re-create the engine: health degrades and recovers, resident adapters are loaded again, waiting requests complete exactly", async () => {
  const adapter = { key: "k7", dir: "/adapters/7", weight: 1 };
  const warm = request({ strategy: "selection", adapters: [adapter], maxTokens: 2 }, 9);
  const waiting = [3, 4, 5].map((seed) => request({ strategy: "selection", adapters: [adapter], maxTokens: 6 }, seed));
  const clean = await reference(waiting);
  const { scheduler, engine, health, port } = withFaults({}, { maxBatch: 1 });
  await run(scheduler, warm).done;
  expect([...engine.loaded.values()]).toEqual(["/adapters/7"]);
  // Three requests in a row each meet a failed step; the fourth and later wait in the queue.
  port.plan = { failSteps: { count: 3 } };
  const failing = [0, 1, 2].map((i) => run(scheduler, request({ maxTokens: 4 }, 100 + i)));
  const queued = waiting.map((r) => run(scheduler, r));
  const failed = await Promise.all(failing.map((r) => r.done));
  expect(failed.every((r) => r.done.error?.code === "ENGINE_ERROR")).toBe(true);
  expect((await Promise.all(queued.map((r) => r.done))).map((r) => r.text)).toEqual(clean);
  expect(engine.resets).toBe(1);
  expect(scheduler.stats).toMatchObject({ failedSteps: 3, engineResets: 1 });
  expect(health).toHaveLength(2);
  expect(health[0]).toMatch(/^degrade engine: the engine failed 3 times in a row .*re-creating it/);
  expect(health[1]).toBe("recover engine");
  // The adapter was resident before the reset: it was loaded into the new engine.
  expect(port.counters.loadAdapter).toBe(2);
  expect(engine.liveSequences).toBe(0);
});

test("an engine that cannot be re-created: waiting requests fail, new ones are refused with ENGINE_ERROR until it comes back", async () => {
  const { scheduler, health, engine } = withFaults(
    { failSteps: { count: 1 }, failReset: { count: 1 } },
    { maxBatch: 1, resetAfterFailures: 1, resetBackoffMs: 300 },
  );
  const first = run(scheduler, request());
  const queued = run(scheduler, request({}, 2));
  expect((await first.done).done.error?.code).toBe("ENGINE_ERROR");
  expect((await queued.done).done).toMatchObject({ finishReason: "error", error: { code: "ENGINE_ERROR", message: expect.stringMatching(/engine is down/) } });
  expect(() => scheduler.submit(request(), () => {})).toThrow(expect.objectContaining({ code: "ENGINE_ERROR" }));
  expect(health.at(-1)).toMatch(/could not be re-created/);
  // The second try succeeds after the backoff.
  for (let i = 0; i < 200 && health.at(-1) !== "recover engine"; i++) await new Promise((r) => setTimeout(r, 10));
  expect(health.at(-1)).toBe("recover engine");
  expect(engine.resets).toBe(1);
  expect((await run(scheduler, request()).done).done.finishReason).toBe("length");
});

test("a storm of faults leaves no unhandled rejection (a listener in a process of its own), and every request ends exactly once", () => {
  // Jest keeps the real process from tests, so the storm runs in a child that installs the listener.
  const root = path.resolve(import.meta.dirname, "../../../..");
  const out = execFileSync(process.execPath, ["--import", "tsx", path.join(root, "test/helpers/fault-storm.ts"), "12"], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  const r = JSON.parse(out.trim().split("\n").at(-1)!) as Record<string, unknown>;
  expect(r).toMatchObject({ unhandled: [], finished: "ok", endedTwice: 0, queued: 0, running: 0, liveSequences: 0 });
  expect(r.ended).toBe(r.submitted);
  expect(r.failedSteps).toBeGreaterThan(0);
  expect(r.resets).toBeGreaterThan(0);
});

test("cancelling a queued request ends it at once, during a running step, and it never reaches the engine", async () => {
  const engine = new HeldEngine();
  const s = new Scheduler(engine, options({ maxBatch: 1 }));
  const first = run(s, request({ maxTokens: 60 }, 1));
  engine.hold();
  while (!first.events.some((e) => e.type === "started")) await new Promise((r) => setTimeout(r, 1));
  const queued = run(s, request({ maxTokens: 3 }, 99));
  await new Promise((r) => setTimeout(r, 10));
  queued.cancel();
  // The engine's step is still held: the cancellation did not wait for it.
  expect(queued.events).toEqual([expect.objectContaining({ type: "done", finishReason: "cancelled", tokensOut: 0 })]);
  engine.open();
  await first.done;
  expect(engine.created.map((c) => c.seed)).toEqual([1]);
  expect(s.stats.queued).toBe(0);
});

test("a request waiting for its adapter's load is cancelled at once and never reaches the engine", async () => {
  const engine = new FakeEngine();
  engine.loadDelayMs = 200;
  const s = new Scheduler(engine, options());
  const r = run(s, request({ strategy: "selection", adapters: [{ key: "slow", dir: "/adapters/8", weight: 1 }] }, 42));
  await new Promise((res) => setTimeout(res, 20));
  r.cancel();
  expect(r.events).toEqual([expect.objectContaining({ type: "done", finishReason: "cancelled" })]);
  await new Promise((res) => setTimeout(res, 250));
  expect(engine.created).toEqual([]);
  expect(engine.steps).toEqual([]);
});

test("a request cancelled while its sequence is being made ends once, never starts, and its sequence is freed", async () => {
  class SlowCreate extends FakeEngine {
    asked = 0;
    override async createSequence(sp: Parameters<FakeEngine["createSequence"]>[0]): Promise<number> {
      this.asked++;
      await new Promise((r) => setTimeout(r, 50));
      return super.createSequence(sp);
    }
  }
  const engine = new SlowCreate();
  const s = new Scheduler(engine, options());
  const r = run(s, request({}, 5));
  while (engine.asked === 0) await new Promise((res) => setTimeout(res, 1));
  r.cancel();
  expect(r.events).toEqual([expect.objectContaining({ type: "done", finishReason: "cancelled" })]);
  await new Promise((res) => setTimeout(res, 100));
  expect(r.events).toHaveLength(1);
  expect(engine.liveSequences).toBe(0);
  expect(engine.steps).toEqual([]);
  expect((await run(s, request()).done).done.finishReason).toBe("length");
});

test("adapter loads run beside the steps: running streams keep decoding while a request waits for its adapter", async () => {
  const engine = new FakeEngine(4096);
  engine.stepDelayMs = 2;
  engine.loadDelayMs = 300;
  const s = new Scheduler(engine, options({ maxBatch: 4 }));
  const stream = run(s, request({ maxTokens: 4000, ignoreEos: true }, 1));
  while (!stream.events.some((e) => e.type === "delta")) await new Promise((r) => setTimeout(r, 1));
  const before = engine.steps.length;
  const t0 = Date.now();
  const loading = run(s, request({ strategy: "selection", adapters: [{ key: "slow", dir: "/adapters/8", weight: 1 }], maxTokens: 3 }, 2));
  await loading.done;
  const loadMs = Date.now() - t0;
  const stepsDuring = engine.steps.length - before;
  stream.cancel();
  await stream.done;
  expect((await loading.done).done.finishReason).toBe("length");
  // About loadMs / 2 ms steps ran during the load; a loop that waited for the load would run none.
  expect(stepsDuring).toBeGreaterThan(Math.min(20, loadMs / 20));
});
