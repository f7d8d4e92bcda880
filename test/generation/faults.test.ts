/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Faults stay small, end to end: a real server serving stories260K on a real engine behind the
// test-only fault hook (test/helpers/engine-faults.ts). A failed step, a failed sequence
// creation, a failed adapter load and NaN logits fail the requests they hit; every other
// request writes exactly the tokens it writes without the fault (temperature 0), and the
// server keeps serving. Repeated failures re-create the engine (/healthz says so meanwhile).
// A client that leaves while its request is queued cancels it at once: it never reaches the
// engine. Cancelled generations say so on every API.
import OpenAI from "openai";
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { installFaultyGeneration, type FaultyGeneration } from "../helpers/engine-faults.js";
import { gql, login, startTestServer } from "../helpers/server.js";
import { adapterFiles, tempDir, upload } from "../helpers/pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "../helpers/stories.js";
import { waitUntil } from "../helpers/wait.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the end-to-end fault tests: ${skip}`);
const describeModel = skip ? describe.skip : describe;

interface Completion {
  seed: number;
  status: number;
  text: string;
  code: string | undefined;
  reason: string | undefined;
}

describeModel("faults stay small (stories260K, real engine behind the fault hook)", () => {
  let quiver: Quiver;
  let url: string;
  let token: string;
  let key: string;
  let faulty: FaultyGeneration;
  let ws: Client;

  beforeAll(async () => {
    const modelDir = convertStories();
    quiver = await startTestServer(await openCatalog({}), {
      QUIVER_MODEL: modelDir,
      QUIVER_DATA_DIR: tempDir("faults-data"),
      QUIVER_DEVICE: "cpu",
      QUIVER_MAX_BATCH: "2",
    });
    url = quiver.api.url;
    token = await login(url);
    expect(
      (
        await upload(
          url,
          token,
          { name: "fragile", samples: Array.from({ length: 10 }, (_, i) => `A story about a fox, part ${i}.`) },
          adapterFiles(storiesAdapter(3)),
        )
      ).status,
    ).toBe(201);
    await quiver.services.pool.idle();
    const team = await quiver.services.catalog.prisma.team.findFirstOrThrow();
    key = (
      await gql<{ createApiKey: { secret: string } }>(
        url,
        `mutation($t: ID!) { createApiKey(teamId: $t, name: "faults", role: MEMBER) { secret } }`,
        { t: team.id },
        { authorization: `Bearer ${token}` },
      )
    ).data!.createApiKey.secret;
    faulty = await installFaultyGeneration(quiver, modelDir, { resetAfterFailures: 3, resetBackoffMs: 1500 });
    ws = createClient({
      url: url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
  }, 180_000);
  afterAll(async () => {
    await ws?.dispose();
    await faulty?.close();
    await quiver?.close();
  });

  async function complete(seed: number, over: Record<string, unknown> = {}): Promise<Completion> {
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: "base", prompt: `Once upon a time ${seed}`, max_tokens: 24, temperature: 0, seed, ...over }),
    });
    const body = (await res.json()) as { choices?: { text: string; finish_reason: string }[]; error?: { code: string } };
    return { seed, status: res.status, text: body.choices?.[0]?.text ?? "", code: body.error?.code, reason: body.choices?.[0]?.finish_reason };
  }

  /** Each seed's text with no fault armed. */
  async function reference(seeds: number[], over: Record<string, unknown> = {}): Promise<Map<number, string>> {
    faulty.port.plan = {};
    const out = await Promise.all(seeds.map((s) => complete(s, over)));
    expect(out.every((c) => c.status === 200 && c.text.length > 0)).toBe(true);
    return new Map(out.map((c) => [c.seed, c.text]));
  }

  async function health(): Promise<{ status: number; body: { problems?: { component: string; reason: string }[] } }> {
    const res = await fetch(`${url}/healthz`);
    return { status: res.status, body: (await res.json()) as { problems?: { component: string; reason: string }[] } };
  }

  afterEach(() => {
    faulty.port.plan = {};
  });

  test("a failed step fails exactly the requests in it (ENGINE_ERROR, 503); the others write their exact tokens", async () => {
    const seeds = [11, 12, 13, 14, 15];
    const clean = await reference(seeds);
    const before = faulty.port.counters.failedSeeds.length;
    faulty.port.plan = { failSteps: { count: 1, seed: 11 } };
    const out = await Promise.all(seeds.map((s) => complete(s)));
    const inFailedStep = faulty.port.counters.failedSeeds.slice(before).sort();
    expect(inFailedStep).toContain(11);
    const failed = out.filter((c) => c.status !== 200);
    expect(failed.map((c) => c.seed).sort()).toEqual(inFailedStep);
    expect(failed.every((c) => c.status === 503 && c.code === "ENGINE_ERROR")).toBe(true);
    for (const c of out.filter((x) => x.status === 200)) expect(c.text).toBe(clean.get(c.seed));
    expect(out.filter((x) => x.status === 200).length).toBeGreaterThanOrEqual(3);
    expect((await health()).status).toBe(200);
  });

  test("a failed sequence creation fails its request alone; its neighbours write their exact tokens", async () => {
    const seeds = [21, 22, 23];
    const clean = await reference(seeds);
    faulty.port.plan = { failCreateSequence: { seed: 22 } };
    const out = await Promise.all(seeds.map((s) => complete(s)));
    expect(out[1]).toMatchObject({ status: 503, code: "ENGINE_ERROR" });
    expect(out[0]!.text).toBe(clean.get(21));
    expect(out[2]!.text).toBe(clean.get(23));
  });

  test("a failed adapter load fails the request that needs it; requests without it write their exact tokens", async () => {
    const seeds = [31, 32];
    const clean = await reference(seeds);
    // The adapter is not resident yet (this is its first use), so the request loads it.
    faulty.port.plan = { failAdapterLoad: { dir: "/", count: 1 } };
    const [bad, ...others] = await Promise.all([complete(30, { model: "fragile" }), ...seeds.map((s) => complete(s))]);
    expect(bad).toMatchObject({ status: 503, code: "ENGINE_ERROR" });
    expect(others.map((c) => c.text)).toEqual(seeds.map((s) => clean.get(s)));
    expect(faulty.port.counters.failedAdapterLoad).toBe(1);
    // The fault fired once: the next request loads it.
    expect((await complete(30, { model: "fragile" })).status).toBe(200);
  });

  test("NaN logits (the engine's own fault hook) fail their sequence; its batch mates write their exact tokens", async () => {
    const seeds = [41, 42, 43];
    const clean = await reference(seeds);
    faulty.port.plan = { nanLogits: { seed: 42 } };
    const out = await Promise.all(seeds.map((s) => complete(s)));
    expect(out[1]).toMatchObject({ status: 503, code: "ENGINE_ERROR" });
    const rec = await quiver.services.catalog.prisma.generation.findFirstOrThrow({ where: { errorCode: "NON_FINITE" } });
    expect(rec).toMatchObject({ status: "FAILED", finishReason: "error" });
    expect(out[0]!.text).toBe(clean.get(41));
    expect(out[2]!.text).toBe(clean.get(43));
  });

  test("repeated failed steps re-create the engine: /healthz reports it meanwhile, the adapters come back, later requests write their exact tokens", async () => {
    const clean = await reference([51]);
    // The adapter is resident (used above): the new engine must load it again.
    expect((await complete(50, { model: "fragile" })).status).toBe(200);
    const loadsBefore = faulty.port.counters.loadAdapter;
    const engineBefore = faulty.engine();
    faulty.port.plan = { failSteps: { count: 3 }, failReset: { count: 1 } };
    // Two at a time (QUIVER_MAX_BATCH 2): three steps fail, six requests with them.
    const out = await Promise.all([61, 62, 63, 64, 65, 66].map((s) => complete(s)));
    expect(out.every((c) => c.status === 503 && c.code === "ENGINE_ERROR")).toBe(true);
    // The first re-creation fails (the plan): /healthz is 503 with the engine's reason, and new requests are refused.
    const h = await health();
    expect(h.status).toBe(503);
    expect(h.body.problems).toEqual([expect.objectContaining({ component: "engine", reason: expect.stringMatching(/could not be re-created/) })]);
    expect(await complete(67)).toMatchObject({ status: 503, code: "ENGINE_ERROR" });
    // The second try (after 1.5 s) succeeds.
    await waitUntil("the engine is back", async () => (await health()).status === 200, 20_000);
    expect(faulty.engine()).not.toBe(engineBefore);
    await waitUntil("the resident adapter was loaded again", () => faulty.port.counters.loadAdapter === loadsBefore + 1);
    expect((await complete(51)).text).toBe(clean.get(51));
    expect((await complete(50, { model: "fragile" })).status).toBe(200);
    expect(faulty.port.counters.loadAdapter).toBe(loadsBefore + 1);
    expect(faulty.scheduler.stats.engineResets).toBe(1);
    const metrics = faulty.metrics.render();
    expect(metrics).toMatch(/quiver_engine_resets 1\b/);
    expect(metrics).toMatch(/quiver_engine_failed_steps [1-9]/);
  }, 60_000);

  /** Two slow streams hold both places of the batch until stopped. */
  async function fillBatch(): Promise<() => Promise<void>> {
    faulty.port.plan = { slowSteps: { ms: 20 } };
    const stops: (() => void)[] = [];
    await Promise.all(
      [901, 902].map(
        (seed) =>
          new Promise<void>((running, failed) => {
            const stop = ws.subscribe<{ generate: { delta: string | null } }>(
              {
                query: `subscription($i: GenerateInput!) { generate(input: $i) { delta } }`,
                variables: { i: { prompt: "Busy", strategy: "NONE", maxTokens: 400, ignoreEos: true, seed } },
              },
              { next: (v) => v.data?.generate.delta && running(), error: failed, complete: () => undefined },
            );
            stops.push(stop);
          }),
      ),
    );
    return async () => {
      for (const stop of stops) stop();
      await quiver.services.generation!.idle();
    };
  }

  test("a GraphQL client that unsubscribes while its request is queued cancels it at once: it never reaches the engine", async () => {
    const release = await fillBatch();
    let id = "";
    await new Promise<void>((resolve, reject) => {
      const stop = ws.subscribe<{ generate: { generationId: string } }>(
        {
          query: `subscription($i: GenerateInput!) { generate(input: $i) { generationId } }`,
          variables: { i: { prompt: "Queued", strategy: "NONE", maxTokens: 8, seed: 777 } },
        },
        {
          next: (v) => {
            id = v.data!.generate.generationId;
            stop();
            resolve();
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
    // Cancelled while the batch is still full: not after the busy streams let it in.
    await waitUntil(
      "the queued generation is cancelled",
      async () => (await quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id } })).status === "CANCELLED",
      5_000,
    );
    expect(quiver.services.scheduler!.stats.running).toBe(2);
    await release();
    const rec = await quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id } });
    expect(rec).toMatchObject({ status: "CANCELLED", finishReason: "cancelled", tokensOut: 0 });
    expect(faulty.port.counters.seeds).not.toContain(777);
  }, 60_000);

  test("an OpenAI client that disconnects while its request is queued cancels it at once: it never reaches the engine", async () => {
    const release = await fillBatch();
    const controller = new AbortController();
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: "base", prompt: "Queued", max_tokens: 8, temperature: 0, seed: 778, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const id = /"id":"cmpl-([0-9a-f-]+)"/.exec(first)![1]!;
    controller.abort();
    await waitUntil(
      "the queued generation is cancelled",
      async () => (await quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id } })).status === "CANCELLED",
      5_000,
    );
    expect(quiver.services.scheduler!.stats.running).toBe(2);
    await release();
    expect(faulty.port.counters.seeds).not.toContain(778);
  }, 60_000);

  test("a cancelled stream does not look complete: OpenAI finish_reason 'length' with quiver.finish_reason 'cancelled' (the official client reads it)", async () => {
    faulty.port.plan = { slowSteps: { ms: 20 } };
    const client = new OpenAI({ apiKey: key, baseURL: `${url}/v1`, maxRetries: 0 });
    const stream = await client.completions.create({ model: "base", prompt: "Once", max_tokens: 300, temperature: 0, stream: true, seed: 779 });
    let last: (OpenAI.Completion & { quiver?: { finish_reason?: string } }) | undefined;
    let cancelled = false;
    for await (const chunk of stream) {
      last = chunk;
      if (!cancelled && chunk.choices[0]?.text) {
        cancelled = true;
        const m = await gql<{ cancelGeneration: { status: string; finishReason: string } }>(
          url,
          `mutation($id: ID!) { cancelGeneration(id: $id) { status finishReason } }`,
          { id: chunk.id.replace(/^cmpl-/, "") },
          { authorization: `Bearer ${token}` },
        );
        expect(m.data!.cancelGeneration).toEqual({ status: "CANCELLED", finishReason: "cancelled" });
      }
    }
    expect(last!.choices[0]!.finish_reason).toBe("length");
    expect(last!.quiver?.finish_reason).toBe("cancelled");
  }, 60_000);

  test("the server is up and serving after every fault, and nothing is left held: every generation ended, every quota reservation freed", async () => {
    expect((await health()).status).toBe(200);
    const clean = await reference([99]);
    expect((await complete(99)).text).toBe(clean.get(99));
    const prisma = quiver.services.catalog.prisma;
    await waitUntil(
      "every generation's end is written",
      async () => (await prisma.generation.count({ where: { status: { in: ["QUEUED", "PREFILL", "DECODE"] } } })) === 0,
    );
    expect(await prisma.quotaReservation.count({ where: { kind: "GENERATION" } })).toBe(0);
    expect(faulty.scheduler.stats).toMatchObject({ queued: 0, running: 0 });
  });
});
