// `quiver bench load [--model DIR | --synthetic DIMxLAYERS] [--concurrency 64,256] [--tokens N] [--rounds N] [--json]`: a bounded,
// loopback-only load test of the generation API. It starts an in-process server on the
// embedded database, registers adapters, then for each concurrency level:
//   1. the engine's own batched throughput: the same requests through the scheduler in-process
//      (no API, no network), recording each request's text;
//   2. the same requests as concurrent streaming subscriptions (graphql-ws) through the API;
// and checks every stream delivered exactly the engine's text and token count (greedy, so
// deterministic), reporting tokens/s of both, their ratio, and the server's peak memory.
// With --rounds N the two phases alternate N times per level, and each side's figure is its
// fastest round (as in `bench engine`): machine load that changes between the phases then
// moves the ratio less. Every round's streams are checked.
// The default model is stories260K (260K parameters: decoding is so cheap that the API's
// fixed per-request work dominates); --synthetic 768x12 builds a random Llama of that width
// and depth with stories260K's tokenizer, so tokens cost what serving a real model costs.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { writeSyntheticAdapter, writeSyntheticModel, parameterCount, type SyntheticModelSpec } from "@quiver/engine/synthetic";
import { copyFileSync } from "node:fs";
import { convertLlama2c } from "@quiver/engine";
import { loadConfig } from "../../config.js";
import { startQuiver } from "../../app.js";
import { openCatalog } from "../../catalog/database.js";
import { repoRoot } from "../../catalog/migrate.js";
import { NativeEnginePort } from "../../generation/engine-port.js";
import { Scheduler, defaultSchedulerOptions, type GenerationRequest } from "../../generation/scheduler.js";
import { DirectoryStorage } from "../../pool/storage.js";
import { adapterSpecOf, login, uploadAdapter, type ModelConfig } from "../bench/api-client.js";

const SAMPLE_TOPICS = ["animals", "weather", "numbers", "colours", "food", "music", "sports", "travel"];

interface Phase {
  concurrency: number;
  engineTokensPerS: number;
  apiTokensPerS: number;
  ratio: number;
  requests: number;
  tokens: number;
  mismatches: number;
  peakRssMiB: number;
  rounds: number;
  /** engine/API time of each round, in order. */
  roundRatios: number[];
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      synthetic: { type: "string" },
      concurrency: { type: "string", default: "64,256" },
      tokens: { type: "string", default: "64" },
      rounds: { type: "string", default: "1" },
      json: { type: "boolean", default: false },
    },
  });
  const levels = values.concurrency!.split(",").map(Number);
  const maxTokens = Number(values.tokens);
  const rounds = Number(values.rounds);
  if (
    levels.some((n) => !Number.isInteger(n) || n < 1 || n > 1024) ||
    !Number.isInteger(maxTokens) ||
    maxTokens < 1 ||
    maxTokens > 400 ||
    !Number.isInteger(rounds) ||
    rounds < 1 ||
    rounds > 10
  ) {
    console.error("quiver bench load: --concurrency takes integers in 1..1024, --tokens 1..400, --rounds 1..10");
    return 2;
  }
  const work = mkdtempSync(path.join(os.tmpdir(), "quiver-bench-load-"));
  try {
    let modelDir = values.model;
    let modelLabel = modelDir ?? "stories260K";
    if (!modelDir) {
      const stories = path.resolve(repoRoot, "..", "shared", "models", "stories260K");
      const converted = path.join(work, "stories");
      convertLlama2c(path.join(stories, "stories260K.bin"), path.join(stories, "tok512.bin"), converted);
      modelDir = converted;
      const m = values.synthetic ? /^(\d+)x(\d+)$/.exec(values.synthetic) : undefined;
      if (values.synthetic && !m) {
        console.error("quiver bench load: --synthetic takes DIMxLAYERS, e.g. 768x12");
        return 2;
      }
      if (m) {
        const dim = Number(m[1]);
        const s: SyntheticModelSpec = {
          vocab: 512,
          dim,
          hidden: Math.round((dim * 8) / 3 / 32) * 32,
          layers: Number(m[2]),
          heads: dim / 64,
          kvHeads: dim / 64,
          maxPos: 512,
          tied: false,
          dtype: "F32",
          seed: 1,
        };
        modelDir = path.join(work, "synthetic");
        writeSyntheticModel(modelDir, s);
        copyFileSync(path.join(converted, "tokenizer.json"), path.join(modelDir, "tokenizer.json"));
        modelLabel = `synthetic Llama ${dim}x${s.layers} (${(parameterCount(s) / 1e6).toFixed(0)}M parameters, stories260K tokenizer)`;
      }
    }
    const config = loadConfig({
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      QUIVER_WEB: "off",
      QUIVER_MODEL: modelDir,
      QUIVER_DATA_DIR: path.join(work, "data"),
      QUIVER_ADMIN_EMAIL: "bench@quiver.local",
      QUIVER_ADMIN_PASSWORD: "bench-password-123",
      QUIVER_MAX_QUEUE: "4096",
      QUIVER_MAX_BATCH: "64",
    });
    const quiver = await startQuiver(config, { catalog: await openCatalog({}), log: () => {} });
    const url = quiver.api.url;
    const token = await login(url, "bench@quiver.local", "bench-password-123");

    // Eight adapters (rank 8) with distinct sample topics, registered through the upload API.
    const cfg = JSON.parse(readFileSync(path.join(modelDir, "config.json"), "utf8")) as ModelConfig;
    const storage = new DirectoryStorage(path.join(config.dataDir, "adapters"));
    const adapterIds: string[] = [];
    for (const [i, topic] of SAMPLE_TOPICS.entries()) {
      const dir = path.join(work, `adapter-${i}`);
      writeSyntheticAdapter(dir, adapterSpecOf(cfg), {
        rank: 8,
        alpha: 16,
        rslora: false,
        modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        seed: 100 + i,
      });
      adapterIds.push(
        await uploadAdapter(url, token, {
          name: `bench-${topic}`,
          samples: Array.from({ length: 10 }, (_, k) => `A question about ${topic}, number ${k}.`),
          dir,
        }),
      );
    }
    await quiver.services.pool.idle();
    const records = await quiver.services.adapters.getForSystem(adapterIds);

    // The request mix: seeded strategies and adapter sets, greedy, exactly maxTokens each.
    const strategies = ["MIXTURE", "FUSION", "SELECTION", "NONE"] as const;
    const mix = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const strategy = strategies[i % 4]!;
        const k = strategy === "SELECTION" ? 1 : strategy === "NONE" ? 0 : 2 + (i % 2);
        const pinned = Array.from({ length: k }, (_, j) => adapterIds[(i * 3 + j * 5) % adapterIds.length]!);
        return { prompt: `Once upon a time, story ${i} began`, strategy, adapterIds: pinned };
      });

    const engine = quiver.services.model!.engine;
    const port = new NativeEnginePort(engine);
    const phases: Phase[] = [];
    for (const n of levels) {
      const requests = mix(n);
      const engineRounds: number[] = [];
      const apiRounds: number[] = [];
      let mismatches = 0;
      let peakRss = process.memoryUsage().rss;
      for (let round = 0; round < rounds; round++) {
        // 1. The engine's own batched throughput (scheduler in-process).
        const direct = new Scheduler(port, { ...defaultSchedulerOptions, maxBatch: 64, maxQueue: 4096 });
        const expected: string[] = [];
        const t0 = performance.now();
        await Promise.all(
          requests.map(
            (r, i) =>
              new Promise<void>((resolve) => {
                let text = "";
                const req: GenerationRequest = {
                  id: `direct-${i}`,
                  teamId: "bench",
                  prompt: [port.bosTokenId, ...port.encode(r.prompt)],
                  sampling: { temperature: 0, topK: 0, topP: 1, seed: 1 },
                  maxTokens,
                  stopSequences: [],
                  ignoreEos: true,
                  strategy: ({ MIXTURE: "mixture", FUSION: "fusion", SELECTION: "selection", NONE: "none" } as const)[r.strategy],
                  adapters: r.adapterIds.map((id) => {
                    const a = records.find((x) => x.id === id)!;
                    return { key: a.currentVersion!.id, dir: storage.localDir(a.currentVersion!.storageUri), weight: 1 / r.adapterIds.length };
                  }),
                };
                direct.submit(req, (e) => {
                  if (e.type === "delta") text += e.text;
                  if (e.type === "done") {
                    expected[i] = text;
                    resolve();
                  }
                });
              }),
          ),
        );
        const engineS = (performance.now() - t0) / 1000;
        await direct.close();

        // 2. The same requests through the API, as concurrent streaming subscriptions.
        const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
        const clients = Array.from({ length: Math.min(n, 16) }, () =>
          createClient({
            url: url.replace("http", "ws") + "/graphql",
            webSocketImpl: WebSocket,
            connectionParams: { authorization: `Bearer ${token}` },
            retryAttempts: 0,
          }),
        );
        const got: { text: string; tokensOut: number }[] = [];
        const t1 = performance.now();
        await Promise.all(
          requests.map(
            (r, i) =>
              new Promise<void>((resolve, reject) => {
                let text = "";
                clients[i % clients.length]!.subscribe<{ generate: { delta: string | null; done: boolean; usage: { tokensOut: number } | null } }>(
                  {
                    query: `subscription($i: GenerateInput!) { generate(input: $i) { delta done usage { tokensOut } } }`,
                    variables: {
                      i: {
                        prompt: r.prompt,
                        strategy: r.strategy,
                        ...(r.adapterIds.length ? { adapterIds: r.adapterIds } : {}),
                        maxTokens,
                        temperature: 0,
                        ignoreEos: true,
                      },
                    },
                  },
                  {
                    next: (v) => {
                      if (v.errors) return reject(new Error(JSON.stringify(v.errors)));
                      const e = v.data!.generate;
                      if (e.delta) text += e.delta;
                      if (e.done) got[i] = { text, tokensOut: e.usage?.tokensOut ?? -1 };
                    },
                    error: reject,
                    complete: resolve,
                  },
                );
              }),
          ),
        );
        const apiS = (performance.now() - t1) / 1000;
        clearInterval(sampler);
        await Promise.all(clients.map((c) => c.dispose()));
        mismatches = Math.max(mismatches, requests.filter((_, i) => got[i]?.text !== expected[i] || got[i]?.tokensOut !== maxTokens).length);
        engineRounds.push(engineS);
        apiRounds.push(apiS);
      }
      const tokens = n * maxTokens;
      const engineS = Math.min(...engineRounds),
        apiS = Math.min(...apiRounds);
      phases.push({
        concurrency: n,
        requests: n,
        tokens,
        mismatches,
        engineTokensPerS: Math.round(tokens / engineS),
        apiTokensPerS: Math.round(tokens / apiS),
        ratio: Math.round((engineS / apiS) * 1000) / 1000,
        peakRssMiB: Math.round(peakRss / 2 ** 20),
        rounds,
        roundRatios: engineRounds.map((e, i) => Math.round((e / apiRounds[i]!) * 1000) / 1000),
      });
    }
    await quiver.close();

    console.log(`bench load: ${modelLabel}; ${maxTokens} tokens per request, greedy, mixed strategies over ${adapterIds.length} rank-8 adapters`);
    console.log("concurrency  engine tok/s  API tok/s  API/engine  exact streams  peak RSS MiB");
    for (const p of phases) {
      console.log(
        `${String(p.concurrency).padStart(11)}  ${String(p.engineTokensPerS).padStart(12)}  ${String(p.apiTokensPerS).padStart(9)}  ${p.ratio.toFixed(3).padStart(10)}  ${`${p.requests - p.mismatches}/${p.requests}`.padStart(13)}  ${String(p.peakRssMiB).padStart(12)}`,
      );
    }
    if (rounds > 1) {
      console.log(`each figure is the fastest of ${rounds} alternating rounds; API/engine round by round:`);
      for (const p of phases) console.log(`${String(p.concurrency).padStart(11)}  ${p.roundRatios.map((r) => r.toFixed(3)).join(", ")}`);
    }
    const ok = phases.every((p) => p.mismatches === 0 && p.ratio >= 0.8);
    if (values.json) console.log(JSON.stringify({ model: modelLabel, maxTokens, phases, ok }));
    return phases.every((p) => p.mismatches === 0) ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
