/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Generation end to end on the real engine (stories260K): retrieval, streaming over
// graphql-ws, replay, cancellation, disconnects, batching invariance, quotas, records and
// metrics, and bad input that leaves the service running.
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";
import type { Quiver } from "../../apps/api/src/app.js";
import { catalogKinds } from "../helpers/catalogs.js";
import { gql, login, startTestServer } from "../helpers/server.js";
import { adapterFiles, tempDir, upload } from "../helpers/pool.js";
import { convertStories, storiesAdapter, storiesSkipReason } from "../helpers/stories.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the generation end-to-end tests: ${skip}`);
const describeModel = skip ? describe.skip : describe;

const TOPICS: Record<string, string[]> = {
  animals: Array.from(
    { length: 10 },
    (_, i) => `Tell a story about a ${["cat", "dog", "bird", "fox", "bear", "frog", "duck", "lion", "fish", "owl"][i]} in the forest.`,
  ),
  numbers: Array.from({ length: 10 }, (_, i) => `What is ${i + 2} times ${i + 5}? Give the number.`),
  weather: Array.from({ length: 10 }, (_, i) => `Describe the weather on day ${i + 1}: rain, sun, wind or snow.`),
};

interface Ev {
  generationId: string;
  delta: string | null;
  done: boolean;
  adapters: { adapter: { name: string }; score: number; weight: number }[] | null;
  finishReason: string | null;
  usage: { tokensIn: number; tokensOut: number; ttftMs: number | null } | null;
}

const EVENT = `generationId delta done finishReason adapters { adapter { name } score weight } usage { tokensIn tokensOut ttftMs }`;

describeModel.each(catalogKinds())("generation on stories260K ($kind)", ({ open }) => {
  let quiver: Quiver;
  let url: string;
  let token: string;
  let client: Client;

  beforeAll(async () => {
    const modelDir = convertStories();
    quiver = await startTestServer(await open(), { QUIVER_MODEL: modelDir, QUIVER_DATA_DIR: tempDir("gen-data"), QUIVER_DEVICE: "cpu" });
    url = quiver.api.url;
    token = await login(url);
    let seed = 1;
    for (const [topic, samples] of Object.entries(TOPICS)) {
      const r = await upload(url, token, { name: topic, samples }, adapterFiles(storiesAdapter(seed++)));
      expect(r.status).toBe(201);
    }
    await quiver.services.pool.idle();
    client = createClient({
      url: url.replace("http", "ws") + "/graphql",
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
  }, 180_000);
  afterAll(async () => {
    await client?.dispose();
    await quiver?.close();
  });

  const auth = () => ({ authorization: `Bearer ${token}` });

  function stream(input: Record<string, unknown>, onEvent?: (e: Ev, stop: () => void) => void): Promise<Ev[]> {
    const events: Ev[] = [];
    return new Promise((resolve, reject) => {
      const stop = client.subscribe<{ generate: Ev }>(
        { query: `subscription($i: GenerateInput!) { generate(input: $i) { ${EVENT} } }`, variables: { i: input } },
        {
          next: (v) => {
            if (v.errors) return reject(new Error(JSON.stringify(v.errors)));
            events.push(v.data!.generate);
            onEvent?.(v.data!.generate, () => {
              stop();
              resolve(events);
            });
          },
          error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
          complete: () => resolve(events),
        },
      );
    });
  }
  const text = (evs: Ev[]) => evs.map((e) => e.delta ?? "").join("");

  test("ignoreEos generates exactly maxTokens", async () => {
    const evs = await stream({ prompt: "", strategy: "NONE", maxTokens: 300, ignoreEos: true });
    expect(evs.at(-1)).toMatchObject({ finishReason: "length", usage: { tokensOut: 300 } });
  });

  test("greedy from BOS without adapters reproduces the checkpoint's reference text", async () => {
    const evs = await stream({ prompt: "", strategy: "NONE", maxTokens: 40 });
    expect(text(evs)).toMatch(/^Once upon a time, there was a little girl named Lily\./);
    expect(evs[0]!.adapters).toEqual([]);
    expect(evs.at(-1)).toMatchObject({ done: true, finishReason: "length", usage: { tokensIn: 1, tokensOut: 40 } });
  });

  test("retrieval picks the input's adapters; the stream names them first and ends with usage", async () => {
    const evs = await stream({ prompt: "Tell a story about a rabbit in the forest.", k: 2, maxTokens: 20 });
    const first = evs[0]!;
    expect(first.adapters!.map((a) => a.adapter.name)[0]).toBe("animals");
    expect(first.adapters!.reduce((a, x) => a + x.weight, 0)).toBeCloseTo(1, 6);
    expect(evs.slice(1, -1).every((e) => typeof e.delta === "string" && e.delta.length > 0)).toBe(true);
    const last = evs.at(-1)!;
    expect(last.done).toBe(true);
    expect(last.usage!.tokensOut).toBeGreaterThan(0);
    expect(last.usage!.ttftMs).not.toBeNull();
  });

  test("greedy output is the same alone and in a full batch of others", async () => {
    const input = { prompt: "What is 3 times 4?", k: 2, strategy: "MIXTURE", maxTokens: 24 };
    const alone = text(await stream(input));
    const others = Array.from({ length: 12 }, (_, i) =>
      stream({
        prompt: `Describe the weather on day ${i}.`,
        k: 1 + (i % 3),
        strategy: ["MIXTURE", "FUSION", "SELECTION"][i % 3],
        maxTokens: 16 + i,
        temperature: i % 2 ? 0.8 : 0,
        seed: i,
      }),
    );
    const together = stream(input);
    const results = await Promise.all([together, ...others]);
    expect(text(results[0]!)).toBe(alone);
  }, 60_000);

  // A background batch keeps the engine busy so that a 450-token generation takes far
  // longer than one HTTP round trip; on a fast machine stories260K alone writes 450 tokens
  // in about 25 ms. The background streams are stopped (and so cancelled) afterwards.
  async function withBusyEngine<T>(fn: () => Promise<T>): Promise<T> {
    const stops: (() => void)[] = [];
    const started = Array.from(
      { length: 8 },
      (_, i) =>
        new Promise<void>((running) => {
          void stream({ prompt: `Busy ${i}`, strategy: "NONE", maxTokens: 450, ignoreEos: true, temperature: 1, seed: i }, (e, stop) => {
            if (e.delta) {
              stops.push(stop);
              running();
            }
          }).finally(running);
        }),
    );
    await Promise.all(started);
    try {
      return await fn();
    } finally {
      for (const stop of stops) stop();
      await quiver.services.generation!.idle();
    }
  }

  test("generate (mutation) then generation(id) replays the stream; cancelGeneration stops it", async () => {
    const { id, c } = await withBusyEngine(async () => {
      const m = await gql<{ generate: { id: string; status: string } }>(
        url,
        `mutation($i: GenerateInput!) { generate(input: $i) { id status } }`,
        { i: { prompt: "Once upon a time", maxTokens: 450, strategy: "NONE", ignoreEos: true } },
        auth(),
      );
      const id = m.data!.generate.id;
      const c = await gql<{ cancelGeneration: { status: string; finishReason: string; usage: { tokensOut: number } } }>(
        url,
        `mutation($id: ID!) { cancelGeneration(id: $id) { status finishReason usage { tokensOut } } }`,
        { id },
        auth(),
      );
      return { id, c };
    });
    expect(c.data!.cancelGeneration).toMatchObject({ status: "CANCELLED", finishReason: "cancelled" });
    expect(c.data!.cancelGeneration.usage.tokensOut).toBeLessThan(450);
    const replay: Ev[] = await new Promise((resolve, reject) => {
      const evs: Ev[] = [];
      client.subscribe<{ generation: Ev }>(
        { query: `subscription($id: ID!) { generation(id: $id) { ${EVENT} } }`, variables: { id } },
        {
          next: (v) => (v.errors ? reject(new Error(JSON.stringify(v.errors))) : evs.push(v.data!.generation)),
          error: reject,
          complete: () => resolve(evs),
        },
      );
    });
    expect(replay[0]!.generationId).toBe(id);
    expect(replay.at(-1)).toMatchObject({ done: true, finishReason: "cancelled" });
  });

  test("a client that stops listening cancels its generation", async () => {
    let generationId = "";
    await withBusyEngine(() =>
      stream({ prompt: "Once", strategy: "NONE", maxTokens: 450, ignoreEos: true }, (e, stop) => {
        generationId = e.generationId;
        if (e.delta) stop();
      }),
    );
    let status = "";
    for (let i = 0; i < 50 && status !== "CANCELLED"; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = (await quiver.services.catalog.prisma.generation.findUniqueOrThrow({ where: { id: generationId } })).status;
    }
    expect(status).toBe("CANCELLED");
  });

  test("bad input gets coded errors and the service keeps serving", async () => {
    const q = `mutation($i: GenerateInput!) { generate(input: $i) { id } }`;
    const code = async (i: Record<string, unknown>) => (await gql(url, q, { i }, auth())).errors?.[0]?.extensions?.code;
    expect(await code({ prompt: "x", adapterIds: ["00000000-0000-4000-8000-000000000000"] })).toBe("NOT_FOUND");
    expect(await code({ prompt: "x", k: 0 })).toBe("BAD_USER_INPUT");
    expect(await code({ prompt: "x", k: 99 })).toBe("BAD_USER_INPUT");
    expect(await code({ prompt: "x", maxTokens: -1 })).toBe("BAD_USER_INPUT");
    expect(await code({ prompt: "x", maxTokens: 1e9 })).toBe("BAD_USER_INPUT");
    expect(await code({ prompt: "word ".repeat(2000) })).toBe("BAD_USER_INPUT");
    expect(await code({ prompt: "x", temperature: -1 })).toBe("BAD_USER_INPUT");
    const ok = await stream({ prompt: "", strategy: "NONE", maxTokens: 5 });
    expect(ok.at(-1)!.finishReason).toBe("length");
  });

  test("pinned adapters get real scores; another team's private adapter is not found", async () => {
    const animals = await quiver.services.catalog.prisma.adapter.findFirstOrThrow({ where: { name: "animals" } });
    const evs = await stream({ prompt: "A story about a cat.", adapterIds: [animals.id], strategy: "SELECTION", maxTokens: 5 });
    expect(evs[0]!.adapters).toHaveLength(1);
    expect(evs[0]!.adapters![0]!.score).toBeGreaterThan(0.2);
    const other = await quiver.services.catalog.prisma.team.create({ data: { name: "Other", slug: "other-gen" } });
    await quiver.services.catalog.prisma.adapter.update({ where: { id: animals.id }, data: { teamId: other.id } });
    try {
      const r = await gql(url, `mutation($i: GenerateInput!) { generate(input: $i) { id } }`, { i: { prompt: "cat", adapterIds: [animals.id] } }, auth());
      expect(r.errors![0]!.extensions!.code).toBe("NOT_FOUND");
      const retrieved = await gql<{ retrieve: { adapter: { name: string } }[] }>(
        url,
        `{ retrieve(input: "Tell a story about a cat in the forest.", k: 3) { adapter { name } } }`,
        {},
        auth(),
      );
      expect(retrieved.data!.retrieve.map((x) => x.adapter.name)).not.toContain("animals");
    } finally {
      await quiver.services.catalog.prisma.adapter.update({
        where: { id: animals.id },
        data: { teamId: (await quiver.services.catalog.prisma.team.findFirstOrThrow({ where: { slug: "default" } })).id },
      });
    }
  });

  test("every generation is recorded with usage; /metrics reports the service", async () => {
    const rows = await quiver.services.catalog.prisma.generation.findMany({ where: { status: "DONE" } });
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.every((r) => r.tokensOut > 0 && r.totalMs !== null && r.ttftMs !== null)).toBe(true);
    const usage = await gql<{ usage: { totals: { requests: number; tokensOut: number } } }>(
      url,
      `{ usage(groupBy: HOUR, from: "${new Date(Date.now() - 3600_000).toISOString()}") { totals { requests tokensOut } } }`,
      {},
      auth(),
    );
    const all = await quiver.services.catalog.prisma.generation.aggregate({ _count: true, _sum: { tokensOut: true } });
    expect(usage.data!.usage.totals).toEqual({ requests: all._count, tokensOut: all._sum.tokensOut });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/quiver_generated_tokens_total \d+/);
    expect(metrics).toContain("quiver_time_to_first_token_seconds_bucket");
    expect(metrics).toMatch(/quiver_adapter_slot_hits \d+/);
    expect(metrics).toMatch(/quiver_queue_depth 0/);
  });

  test("quotas: requests per minute and concurrent generations answer QUOTA_EXCEEDED", async () => {
    const team = await quiver.services.catalog.prisma.team.findFirstOrThrow({ where: { slug: "default" } });
    const recent = await quiver.services.generations.recentRequests(team.id, 60_000);
    await quiver.services.catalog.prisma.team.update({ where: { id: team.id }, data: { quotaRequestsPerMinute: recent + 1 } });
    const q = `mutation($i: GenerateInput!) { generate(input: $i) { id } }`;
    expect((await gql(url, q, { i: { prompt: "", strategy: "NONE", maxTokens: 2 } }, auth())).errors).toBeUndefined();
    const over = await gql(url, q, { i: { prompt: "", strategy: "NONE", maxTokens: 2 } }, auth());
    expect(over.errors![0]).toMatchObject({ extensions: { code: "QUOTA_EXCEEDED", details: { quota: "requestsPerMinute" } } });
    await quiver.services.catalog.prisma.team.update({ where: { id: team.id }, data: { quotaRequestsPerMinute: null, quotaConcurrent: 1 } });
    await quiver.services.generation!.idle();
    const long = await gql<{ generate: { id: string } }>(url, q, { i: { prompt: "", strategy: "NONE", maxTokens: 450, ignoreEos: true } }, auth());
    const second = await gql(url, q, { i: { prompt: "", strategy: "NONE", maxTokens: 2 } }, auth());
    expect(second.errors![0]).toMatchObject({ extensions: { code: "QUOTA_EXCEEDED", details: { quota: "concurrentGenerations" } } });
    await gql(url, `mutation($id: ID!) { cancelGeneration(id: $id) { status } }`, { id: long.data!.generate.id }, auth());
    await quiver.services.catalog.prisma.team.update({ where: { id: team.id }, data: { quotaConcurrent: null, quotaTokensPerDay: 1 } });
    const tokens = await gql(url, q, { i: { prompt: "", strategy: "NONE", maxTokens: 2 } }, auth());
    expect(tokens.errors![0]).toMatchObject({ extensions: { code: "QUOTA_EXCEEDED", details: { quota: "tokensPerDay" } } });
    await quiver.services.catalog.prisma.team.update({ where: { id: team.id }, data: { quotaTokensPerDay: null } });
  });
});
