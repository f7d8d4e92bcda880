// A storm of engine faults on the scheduler, run in a process of its own (scheduler-faults.test.ts
// spawns it): jest keeps the real `process` from a test, so only a child can install the
// `unhandledRejection` listener that production's Node would die of. Every round arms another
// fault of the test-only hook (failed steps, failed sequence creations, failed adapter loads,
// NaN logits, an engine that cannot be re-created at first), some listeners throw, some
// requests are cancelled at once and some while running. Prints one JSON line: the
// unhandled rejections seen, how many times each request ended, and what was left held.
import { FakeEngine } from "../../apps/api/src/generation/fake-engine.js";
import { FaultInjectingPort, type FaultPlan } from "../../apps/api/src/generation/engine-faults.js";
import { Scheduler, type GenerationRequest } from "../../apps/api/src/generation/scheduler.js";

const unhandled: string[] = [];
process.on("unhandledRejection", (reason) => unhandled.push(String((reason as Error)?.stack ?? reason)));

const PLANS: FaultPlan[] = [
  { failSteps: { count: 1 } },
  { failCreateSequence: { count: 2 } },
  { failAdapterLoad: { dir: "/adapters/", count: 2 } },
  { nanLogits: { seed: 0 } },
  { failSteps: { count: 3 }, failReset: { count: 1 } },
  {},
];

async function storm(rounds: number) {
  const engine = new FakeEngine();
  engine.loadDelayMs = 2;
  const port = new FaultInjectingPort(engine, {}, (on) => engine.poisonLogits(on));
  const s = new Scheduler(
    port,
    { maxBatch: 4, maxQueue: 100, tokenBudget: 64, prefillChunk: 64, adapterBudget: 8, resetAfterFailures: 2, resetBackoffMs: 5 },
    { log: () => {} },
  );
  const ends = new Map<string, number>();
  const all: Promise<void>[] = [];
  let refused = 0;
  for (let round = 0; round < rounds; round++) {
    const plan = structuredClone(PLANS[round % PLANS.length]!);
    if (plan.nanLogits) plan.nanLogits.seed = round * 10 + 2;
    port.plan = plan;
    for (let i = 0; i < 6; i++) {
      const req: GenerationRequest = {
        id: `r${round}-${i}`,
        teamId: `team-${i % 2}`,
        prompt: [1, 104, 105],
        sampling: { temperature: 0, topK: 0, topP: 1, seed: round * 10 + i },
        maxTokens: 3 + i,
        stopSequences: [],
        strategy: i % 2 ? "selection" : "none",
        adapters: i % 2 ? [{ key: `k${i}`, dir: `/adapters/${i}`, weight: 1 }] : [],
      };
      let handle: { cancel(): void };
      let ended!: () => void;
      const done = new Promise<void>((resolve) => (ended = resolve));
      try {
        handle = s.submit(req, (e) => {
          if (e.type === "done") {
            ends.set(req.id, (ends.get(req.id) ?? 0) + 1);
            ended();
          }
          if (i === 3 && e.type === "delta") throw new Error("a listener that throws");
        });
      } catch {
        refused++; // the engine was down
        continue;
      }
      all.push(done);
      if (i === 4) handle.cancel();
      if (i === 5) setTimeout(() => handle.cancel(), 3);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), 10_000)));
  const finished = await Promise.race([Promise.all(all).then(() => "ok" as const), timeout]);
  clearTimeout(timer);
  await s.close();
  await new Promise((r) => setTimeout(r, 50));
  return {
    finished,
    submitted: all.length,
    refused,
    ended: [...ends.values()].reduce((a, b) => a + b, 0),
    endedTwice: [...ends.values()].filter((c) => c !== 1).length,
    queued: s.stats.queued,
    running: s.stats.running,
    liveSequences: engine.liveSequences,
    failedSteps: s.stats.failedSteps,
    resets: s.stats.engineResets,
  };
}

const summary = await storm(Number(process.argv[2] ?? 12));
console.log(JSON.stringify({ ...summary, unhandled }));
