// Adapter loads do not stall running streams: while a 256 MiB adapter (stories260K, rank 11610
// on every module, f32) loads for a new request, the running streams' p99 inter-token gap
// stays under twice their p99 gap without the load. The scheduler runs on the real engine:
// the request waits for its adapter (LOADING) while the batch keeps stepping, the engine reads
// and lays out the adapter on its loader thread (at a lower priority), and the step that first
// uses it copies nothing (NativeEnginePort loads with prepare).
//
// Measured so that it shows a stall, not this machine's noise: the steps are paced (the fault
// hook's slowSteps, 5 ms, as a GPU-bound engine leaves its thread waiting; unpaced, the gap of
// a 0.2 ms step is the OS's scheduling noise); the gaps are one stream's (all streams get
// their tokens in the same step, so their gaps are the same sample); and it tries up to three
// loads: a stall (the previous engine: one gap the length of the load) fails every try, a
// burst of other work on 2 shared cores fails one now and then. A test with a generous bound,
// not a benchmark: the figures, and the command, are in docs/benchmarks.md.
import { rmSync } from "node:fs";
import { Engine } from "@quiver/engine";
import { writeSyntheticAdapter } from "../../native/src/synthetic.js";
import { FaultInjectingPort } from "../../apps/api/src/generation/engine-faults.js";
import { NativeEnginePort } from "../../apps/api/src/generation/engine-port.js";
import { Scheduler, type GenerationRequest } from "../../apps/api/src/generation/scheduler.js";
import { tempDir } from "../helpers/pool.js";
import { convertStories, STORIES_SPEC, storiesSkipReason } from "../helpers/stories.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the adapter-load stall test: ${skip}`);
const describeModel = skip ? describe.skip : describe;

const RANK = 11610; // 256 MiB of f32 A and B on stories260K's 35 modules
const STREAMS = 4;
const PACE_MS = 5;

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(0.99 * xs.length))]!;

describeModel("adapter loads beside running streams (stories260K, 256 MiB adapter)", () => {
  let engine: Engine;
  let adapterDir: string;
  beforeAll(async () => {
    adapterDir = tempDir("big-adapter");
    writeSyntheticAdapter(adapterDir, STORIES_SPEC, {
      rank: RANK,
      alpha: 8,
      rslora: false,
      modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
      seed: 1,
    });
    engine = await Engine.open(convertStories(), { device: "cpu", maxRank: 16384, maxAdapterBytes: 512 * 2 ** 20 });
  }, 120_000);
  afterAll(async () => {
    await engine?.close();
    if (adapterDir) rmSync(adapterDir, { recursive: true, force: true });
  });

  /**
   * One stream's inter-token gaps (STREAMS run; each ends at the context and another takes its
   * place) for 1.5 s, then from the moment a request that needs a new adapter is submitted
   * until its first token.
   */
  async function measure(paceMs: number, key: string) {
    const port = new FaultInjectingPort(new NativeEnginePort(engine), paceMs ? { slowSteps: { ms: paceMs } } : {});
    const s = new Scheduler(port, { maxBatch: 8, maxQueue: 64, tokenBudget: 512, prefillChunk: 256, adapterBudget: 4 });
    const gaps: { at: number; gap: number }[] = [];
    let stopping = false;
    const handles = new Set<{ cancel(): void }>();
    const ended: Promise<void>[] = [];
    const request = (seed: number, over: Partial<GenerationRequest> = {}): GenerationRequest => ({
      id: `s${seed}`,
      teamId: "t",
      prompt: [engine.info.bosTokenId],
      sampling: { temperature: 0, topK: 0, topP: 1, seed },
      maxTokens: 500,
      stopSequences: [],
      ignoreEos: true,
      strategy: "none",
      adapters: [],
      ...over,
    });
    const stream = (seed: number) => {
      let prev = -1;
      ended.push(
        new Promise<void>((resolve) => {
          const h = s.submit(request(seed), (e) => {
            if (e.type === "delta" && seed % STREAMS === 0) {
              const now = performance.now();
              if (prev >= 0) gaps.push({ at: now, gap: now - prev });
              prev = now;
            } else if (e.type === "done") {
              handles.delete(h);
              resolve();
              if (!stopping) stream(seed + STREAMS);
            }
          });
          handles.add(h);
        }),
      );
    };
    for (let i = 0; i < STREAMS; i++) stream(i);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1500));
    const submitted = performance.now();
    let started = 0;
    const firstToken = await new Promise<number>((resolve, reject) => {
      s.submit(request(99, { maxTokens: 2, strategy: "selection", adapters: [{ key, dir: adapterDir, weight: 1 }] }), (e) => {
        if (e.type === "started") started = performance.now();
        if (e.type === "delta") resolve(performance.now());
        if (e.type === "done" && e.finishReason === "error") reject(new Error(e.error?.message));
      });
    });
    stopping = true;
    for (const h of handles) h.cancel();
    await Promise.all(ended);
    await s.close();
    const baseline = gaps.filter((g) => g.at >= t0 && g.at < submitted).map((g) => g.gap);
    const loading = gaps.filter((g) => g.at > submitted && g.at <= firstToken).map((g) => g.gap);
    return {
      loadMs: Math.round(started - submitted),
      firstTokenMs: Math.round(firstToken - submitted),
      baseline: { gaps: baseline.length, p99: +p99(baseline).toFixed(2) },
      loading: { gaps: loading.length, p99: +p99(loading).toFixed(2), max: +Math.max(...loading).toFixed(2) },
    };
  }

  test("running streams' p99 inter-token gap while a 256 MiB adapter loads stays under twice the gap without it", async () => {
    const tries: Awaited<ReturnType<typeof measure>>[] = [];
    for (let i = 0; i < 3; i++) {
      const m = await measure(PACE_MS, `big-${i}`);
      tries.push(m);
      if (m.loading.gaps >= 20 && m.loading.p99 < 2 * m.baseline.p99) break;
    }
    const unpaced = await measure(0, "big-unpaced");
    console.log(`adapter-load stall (256 MiB, ${STREAMS} streams): paced ${PACE_MS} ms ${JSON.stringify(tries)}; unpaced ${JSON.stringify(unpaced)}`);
    const last = tries.at(-1)!;
    // The stream kept decoding during the load (a stalled loop gives it one gap), and its gaps stayed small.
    expect(last.loading.gaps).toBeGreaterThanOrEqual(20);
    expect(last.loading.p99).toBeLessThan(2 * last.baseline.p99);
  }, 180_000);
});
