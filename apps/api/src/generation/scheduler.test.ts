import { FakeEngine } from "./fake-engine.js";
import { Scheduler, type GenerationRequest, type SchedulerEvent } from "./scheduler.js";

let n = 0;
function request(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    id: `r${++n}`,
    teamId: "team-a",
    prompt: [1, 104, 105],
    sampling: { temperature: 0, topK: 0, topP: 1, seed: 7 },
    maxTokens: 5,
    stopSequences: [],
    strategy: "none",
    adapters: [],
    ...over,
  };
}

function run(s: Scheduler, req: GenerationRequest) {
  const events: SchedulerEvent[] = [];
  let cancel = () => {};
  const done = new Promise<{ text: string; events: SchedulerEvent[]; done: Extract<SchedulerEvent, { type: "done" }> }>((resolve) => {
    const handle = s.submit(req, (e) => {
      events.push(e);
      if (e.type === "done") resolve({ text: events.map((x) => (x.type === "delta" ? x.text : "")).join(""), events, done: e });
    });
    cancel = handle.cancel;
  });
  return { done, cancel: () => cancel(), events };
}

test("a request streams its tokens and ends at max tokens, with usage and timings", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const { done } = run(s, request({ maxTokens: 4 }));
  const r = await done;
  expect(r.events[0]).toEqual({ type: "started" });
  expect(r.text).toHaveLength(4);
  expect(r.done).toMatchObject({ finishReason: "length", tokensIn: 3, tokensOut: 4 });
  expect(r.done.timings.ttftMs).not.toBeNull();
  expect(engine.liveSequences).toBe(0);
});

test("output does not depend on batch mates; batching mixes prefill and decode under the budget", async () => {
  const alone = await run(new Scheduler(new FakeEngine()), request({ maxTokens: 6, sampling: { temperature: 0, topK: 0, topP: 1, seed: 3 } })).done;
  const engine = new FakeEngine(512);
  const s = new Scheduler(engine, { maxBatch: 8, maxQueue: 100, tokenBudget: 20, prefillChunk: 8, adapterBudget: 8 });
  const long = Array.from({ length: 30 }, (_, i) => 97 + (i % 26));
  const runs = [
    run(s, request({ maxTokens: 6, sampling: { temperature: 0, topK: 0, topP: 1, seed: 3 } })),
    ...Array.from({ length: 9 }, (_, i) => run(s, request({ prompt: long, maxTokens: 10, sampling: { temperature: 0, topK: 0, topP: 1, seed: i } }))),
  ];
  const results = await Promise.all(runs.map((r) => r.done));
  expect(results[0]!.text).toBe(alone.text);
  for (const step of engine.steps) {
    expect(step.length).toBeLessThanOrEqual(8);
    expect(step.reduce((a, it) => a + it.tokens.length, 0)).toBeLessThanOrEqual(20);
  }
  // Some step carried both decode tokens and a prefill chunk.
  expect(engine.steps.some((st) => st.some((it) => it.tokens.length === 1 && it.sample) && st.some((it) => it.tokens.length > 1))).toBe(true);
  // Long prompts were prefilled in chunks of at most 8 with sampling only at the end.
  expect(
    engine.steps
      .flat()
      .filter((it) => it.tokens.length > 1)
      .every((it) => it.tokens.length <= 8),
  ).toBe(true);
});

test("a full queue answers OVERLOADED at once", async () => {
  const engine = new FakeEngine();
  engine.stepDelayMs = 20;
  const s = new Scheduler(engine, { maxBatch: 1, maxQueue: 2, tokenBudget: 64, prefillChunk: 64, adapterBudget: 4 });
  const a = run(s, request({ maxTokens: 3 }));
  // Wait until a holds the batch's only place, so b and c fill the queue (not a fixed sleep,
  // which a busy machine can outlast).
  while (!a.events.some((e) => e.type === "started")) await new Promise((r) => setTimeout(r, 1));
  const b = run(s, request());
  const c = run(s, request());
  expect(() => s.submit(request(), () => {})).toThrow(expect.objectContaining({ code: "OVERLOADED" }));
  await Promise.all([a.done, b.done, c.done]);
});

test("cancelling a running request stops it within one step and frees its sequence", async () => {
  const engine = new FakeEngine();
  engine.stepDelayMs = 5;
  const s = new Scheduler(engine);
  const r = run(s, request({ maxTokens: 1000 }));
  await new Promise((res) => setTimeout(res, 30));
  const stepsAtCancel = engine.steps.length;
  r.cancel();
  const out = await r.done;
  expect(out.done.finishReason).toBe("cancelled");
  expect(engine.steps.length - stepsAtCancel).toBeLessThanOrEqual(1);
  expect(engine.liveSequences).toBe(0);
});

test("a cancelled queued request never starts", async () => {
  const engine = new FakeEngine();
  engine.stepDelayMs = 10;
  const s = new Scheduler(engine, { maxBatch: 1, maxQueue: 10, tokenBudget: 64, prefillChunk: 64, adapterBudget: 4 });
  const first = run(s, request({ maxTokens: 5 }));
  const second = run(s, request({ maxTokens: 5 }));
  second.cancel();
  expect((await second.done).done).toMatchObject({ finishReason: "cancelled", tokensOut: 0 });
  expect(second.events.some((e) => e.type === "started")).toBe(false);
  await first.done;
});

test("teams share the batch round-robin: a flood from one team does not starve another", async () => {
  const engine = new FakeEngine();
  engine.stepDelayMs = 1;
  const s = new Scheduler(engine, { maxBatch: 2, maxQueue: 100, tokenBudget: 64, prefillChunk: 64, adapterBudget: 4 });
  const order: string[] = [];
  const flood = Array.from({ length: 10 }, () => request({ teamId: "big", maxTokens: 2 }));
  const small = request({ teamId: "small", maxTokens: 2 });
  const runs = [...flood, small].map((req) => {
    const r = run(s, req);
    void r.done.then(() => order.push(req.teamId));
    return r;
  });
  await Promise.all(runs.map((r) => r.done));
  expect(order.indexOf("small")).toBeLessThan(4);
});

test("stop sequences end the text before the stop, even when split across tokens", async () => {
  const engine = new FakeEngine();
  const s = new Scheduler(engine);
  const free = await run(s, request({ maxTokens: 12 })).done;
  const stop = free.text.slice(4, 7);
  const stopped = await run(s, request({ maxTokens: 12, stopSequences: [stop] })).done;
  expect(stopped.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
  expect(stopped.done.finishReason).toBe("stop");
});

test("an end-of-sequence token finishes with stop; the context limit with context", async () => {
  const engine = new FakeEngine(10);
  engine.eosAfter = 6;
  const s = new Scheduler(engine);
  expect((await run(s, request({ maxTokens: 50 })).done).done.finishReason).toBe("stop");
  engine.eosAfter = Infinity;
  const ctx = await run(s, request({ maxTokens: 50 })).done;
  expect(ctx.done).toMatchObject({ finishReason: "context", tokensOut: 7 });
  expect(() => s.submit(request({ prompt: Array.from({ length: 10 }, () => 97) }), () => {})).toThrow(expect.objectContaining({ code: "BAD_USER_INPUT" }));
});

test("adapters: loaded once and reused (hits), at most `slots` distinct ones in use, a broken one fails only its request", async () => {
  const engine = new FakeEngine(64, 2);
  engine.stepDelayMs = 1;
  const s = new Scheduler(engine, { maxBatch: 8, maxQueue: 100, tokenBudget: 64, prefillChunk: 64, adapterBudget: 3 });
  const a = (k: string) => ({ key: k, dir: `/adapters/${k}`, weight: 1 });
  const reqs = ["1", "2", "3", "1", "2", "3", "1"].map((k) => request({ strategy: "selection", adapters: [a(k)], maxTokens: 3 }));
  const results = await Promise.all(reqs.map((r) => run(s, r).done));
  expect(results.every((r) => r.done.finishReason === "length")).toBe(true);
  for (const step of engine.steps) expect(new Set(step.flatMap((it) => it.adapters.map((x) => x.adapter))).size).toBeLessThanOrEqual(2);
  expect(s.stats.adapters.hits).toBeGreaterThan(0);
  expect(engine.loaded.size).toBeLessThanOrEqual(3);
  const broken = await run(s, request({ strategy: "selection", adapters: [{ key: "b", dir: "/adapters/broken", weight: 1 }] })).done;
  expect(broken.done).toMatchObject({ finishReason: "error", error: { code: "FILE_CORRUPT" } });
  expect((await run(s, request({ maxTokens: 2 })).done).done.finishReason).toBe("length");
});

test("a team holds at most its share of the queue; other teams still get in, and refusals say when to retry", async () => {
  const engine = new FakeEngine();
  engine.stepDelayMs = 20;
  const s = new Scheduler(engine, { maxBatch: 1, maxQueue: 4, tokenBudget: 64, prefillChunk: 64, adapterBudget: 4, teamShare: 0.5 });
  expect(s.teamQueueLimit).toBe(2);
  const a = run(s, request({ teamId: "a", maxTokens: 3 }));
  while (!a.events.some((e) => e.type === "started")) await new Promise((r) => setTimeout(r, 1));
  const queued = [run(s, request({ teamId: "a" })), run(s, request({ teamId: "a" }))];
  let refusal: unknown;
  try {
    s.submit(request({ teamId: "a" }), () => {});
  } catch (err) {
    refusal = err;
  }
  expect(refusal).toMatchObject({ code: "OVERLOADED", details: { scope: "team", limit: 2, queued: 2, retryAfterSeconds: expect.any(Number) } });
  expect((refusal as { details: { retryAfterSeconds: number } }).details.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  const b = run(s, request({ teamId: "b" }));
  await Promise.all([a.done, b.done, ...queued.map((q) => q.done)]);
  expect((await b.done).done.finishReason).toBe("length");
  // At least one request per team, whatever the share.
  expect(new Scheduler(engine, { maxBatch: 1, maxQueue: 1, tokenBudget: 64, prefillChunk: 64, adapterBudget: 4, teamShare: 0.01 }).teamQueueLimit).toBe(1);
});
