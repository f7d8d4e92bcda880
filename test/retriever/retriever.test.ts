/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Retrieval through the catalog on both database kinds: access scope, excludes, weights,
// the re-embedding job (progress, interruption and resume, switch of the active encoder only
// at the end), and recomputation when an adapter's samples change.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { offlinePool } from "../../apps/api/src/auth/policy.js";
import type { Catalog } from "../../apps/api/src/catalog/database.js";
import { EmbeddingStore } from "../../apps/api/src/catalog/embeddings.js";
import { Retriever } from "../../apps/api/src/retriever/retriever.js";
import { reembedPool } from "../../apps/api/src/retriever/reembed-job.js";
import { samplesHash } from "../../apps/api/src/retriever/adapter-embedding.js";
import { UseLiteEncoder } from "../../apps/api/src/retriever/use-lite/use-lite-encoder.js";
import { OnnxEncoder } from "../../apps/api/src/retriever/onnx-encoder/onnx-encoder.js";
import { RetrieverErrorCode } from "../../apps/api/src/retriever/errors.js";
import type { SentenceEncoder } from "../../apps/api/src/retriever/encoder.js";
import { catalogKinds } from "../helpers/catalogs.js";
import { writeTinyModelFolder } from "./tiny-sentence-model.js";

const TASKS: Record<string, string[]> = {
  translate: [
    "Translate to German: I like apples.",
    "Translate to French: the weather is nice today.",
    "Translate to Spanish: where is the library?",
    "Translate this sentence into German: good morning.",
    "How do you say 'thank you' in French?",
    "Translate to Italian: the train is late.",
    "Translate to German: we are going home.",
    "Translate to French: my brother is a doctor.",
    "Translate to Spanish: the book is on the table.",
    "Translate into German: see you tomorrow.",
  ],
  sentiment: [
    "Review: the film was a delight. Is this review positive or negative?",
    "What is the sentiment of: terrible service, never again?",
    "Is this tweet happy or sad: lost my keys again.",
    "Review: boring plot, great actors. Positive or negative?",
    "How would you rate this review: loved every minute!",
    "Sentiment of the sentence: the food was cold and bland.",
    "Is the following review positive? The hotel was spotless.",
    "Did the reviewer like the movie? It dragged on forever.",
    "What is the sentiment: best concert of my life!",
    "Positive or negative: the phone broke after a week.",
  ],
  math: [
    "Solve for x: 2x + 3 = 11.",
    "What is 17 times 23?",
    "Compute the derivative of x^3 + 2x.",
    "If a train travels 60 km in 1.5 hours, what is its speed?",
    "What is the square root of 144?",
    "Simplify the fraction 18/24.",
    "Solve: 5y - 7 = 18.",
    "What is 15% of 240?",
    "Find the area of a circle with radius 3.",
    "What is the sum of the first 10 positive integers?",
  ],
  summarize: [
    "Summarize the following article in one sentence: The city council met on Tuesday...",
    "Write a short summary of this news story: Scientists discovered...",
    "Give a one-line summary: The company reported record profits...",
    "Summarize: After years of delays, the bridge finally opened...",
    "TL;DR of this passage: The festival drew thousands of visitors...",
    "Write a headline for this article: Heavy rain flooded streets...",
    "Summarize this paragraph briefly: The team won the championship...",
    "Condense this text into a summary: The museum unveiled a new exhibit...",
    "Short summary please: The election results were announced...",
    "Summarize the main point: Researchers found that sleep improves memory...",
  ],
};

describe.each(catalogKinds())("retriever on $kind", ({ open }) => {
  let catalog: Catalog;
  let store: EmbeddingStore;
  let useLite: UseLiteEncoder;
  let tiny: OnnxEncoder;
  let dir: string;
  let teamA: string;
  let teamB: string;
  let model: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "quiver-retriever-"));
    writeTinyModelFolder(path.join(dir, "tiny"));
    [catalog, useLite, tiny] = await Promise.all([open(), UseLiteEncoder.load(), OnnxEncoder.load(path.join(dir, "tiny"))]);
    store = new EmbeddingStore(catalog.prisma);
    const p = catalog.prisma;
    const stamp = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    teamA = (await p.team.create({ data: { name: "A", slug: `a-${stamp}` } })).id;
    teamB = (await p.team.create({ data: { name: "B", slug: `b-${stamp}` } })).id;
    model = (
      await p.baseModel.create({
        data: {
          name: `m-${stamp}`,
          architecture: "LlamaForCausalLM",
          config: {},
          hiddenSize: 8,
          numLayers: 1,
          vocabSize: 8,
          contextLength: 8,
          dtype: "f32",
          storageUri: "none:",
          contentHash: "",
        },
      })
    ).id;
    const add = async (name: string, teamId: string, samples: string[], extra: object = {}) => {
      const a = await p.adapter.create({ data: { name, teamId, baseModelId: model, status: "ACTIVE", ...extra } });
      await p.adapterSample.createMany({ data: samples.map((text, position) => ({ adapterId: a.id, position, text })) });
      ids[name] = a.id;
    };
    await add("translate", teamA, TASKS.translate!);
    await add("sentiment", teamA, TASKS.sentiment!);
    await add("math-public", teamB, TASKS.math!, { visibility: "PUBLIC" });
    await add("summarize-private-b", teamB, TASKS.summarize!);
    await add(
      "translate-disabled",
      teamA,
      TASKS.translate!.map((t) => `${t} (old)`),
      { status: "DISABLED" },
    );
    await add("too-few", teamA, TASKS.math!.slice(0, 3));
    // Public adapters are opt-in: team A has added team B's public one to its pool.
    await p.teamPoolAdapter.create({ data: { teamId: teamA, adapterId: ids["math-public"]! } });
  }, 120_000);

  afterAll(async () => {
    await Promise.all([catalog?.close(), useLite?.close(), tiny?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("before any job there is no active encoder: a coded error", async () => {
    const r = new Retriever(store, [useLite]);
    await expect(r.retrieve({ input: "hi", pool: offlinePool(teamA), baseModelId: model })).rejects.toMatchObject({
      code: RetrieverErrorCode.ENCODER_NOT_REGISTERED,
    });
  });

  test("a first job embeds the pool, skips adapters with too few samples, and activates the encoder", async () => {
    const progress: number[] = [];
    const out = await reembedPool(store, useLite, { pageSize: 4, onProgress: (p) => progress.push(p.done) });
    expect(out.job.status).toBe("DONE");
    expect(out.job.total).toBe(6);
    expect(out.job.done).toBe(6);
    expect(progress).toEqual([4, 6]);
    expect(out.embedded).toBe(5);
    expect(out.skippedTooFewSamples).toBe(1);
    expect((await store.activeEncoder())!.id).toBe(useLite.identity);
    // Run again: everything is current.
    const again = await reembedPool(store, useLite);
    expect(again.embedded).toBe(0);
    expect(again.skippedCurrent).toBe(5);
  });

  test("retrieves by meaning within the caller's scope, with scores and uniform or softmax weights", async () => {
    const r = new Retriever(store, [useLite]);
    const res = await r.retrieve({ input: "Translate to German: the cat is sleeping on the sofa.", k: 3, pool: offlinePool(teamA), baseModelId: model });
    expect(res.encoderId).toBe(useLite.identity);
    expect(res.adapters[0]!.name).toBe("translate");
    // Team A sees its own ACTIVE adapters and B's public one; not B's private, not disabled ones.
    expect(res.adapters.map((a) => a.name).sort()).toEqual(["math-public", "sentiment", "translate"]);
    const scores = res.adapters.map((a) => a.score);
    expect([...scores].sort((x, y) => y - x)).toEqual(scores);
    res.adapters.forEach((a) => expect(a.weight).toBeCloseTo(1 / 3, 12));
    const soft = await r.retrieve({
      input: "Translate to German: the cat is sleeping on the sofa.",
      k: 3,
      pool: offlinePool(teamA),
      baseModelId: model,
      weighting: { kind: "softmax", temperature: 0.05 },
    });
    expect(soft.adapters.reduce((s, a) => s + a.weight, 0)).toBeCloseTo(1, 10);
    expect(soft.adapters[0]!.weight).toBeGreaterThan(soft.adapters[1]!.weight);
    // Team B sees its private summarizer.
    const b = await r.retrieve({
      input: "Summarize this article in one line: the river flooded the town.",
      k: 1,
      pool: offlinePool(teamB),
      baseModelId: model,
    });
    expect(b.adapters.map((a) => a.name)).toEqual(["summarize-private-b"]);
  });

  test("excludes leave the input's own adapter out (OOD), and bad requests are coded errors", async () => {
    const r = new Retriever(store, [useLite]);
    const res = await r.retrieve({ input: "Translate to French: good night.", k: 3, pool: offlinePool(teamA), baseModelId: model, exclude: [ids.translate!] });
    expect(res.adapters.map((a) => a.name)).not.toContain("translate");
    expect(res.adapters).toHaveLength(2);
    await expect(r.retrieve({ input: "x", k: 0, pool: offlinePool(teamA), baseModelId: model })).rejects.toMatchObject({
      code: RetrieverErrorCode.BAD_REQUEST,
    });
    await expect(
      r.retrieve({ input: "x", pool: offlinePool(teamA), baseModelId: model, weighting: { kind: "softmax", temperature: 0 } }),
    ).rejects.toMatchObject({ code: RetrieverErrorCode.BAD_REQUEST });
    await expect(r.retrieve({ input: "  ", pool: offlinePool(teamA), baseModelId: model })).rejects.toMatchObject({ code: RetrieverErrorCode.EMPTY_INPUT });
    const long = await r.retrieve({
      input: "Translate to German: ".concat("a long sentence about trains. ".repeat(300)),
      pool: offlinePool(teamA),
      baseModelId: model,
    });
    expect(long.truncation!.originalChars).toBeGreaterThan(9000);
  });

  test("switching encoders: the job is interrupted, retrieval stays on the old vectors, the job resumes and switches at the end", async () => {
    let calls = 0;
    const counting: SentenceEncoder = Object.assign(Object.create(tiny) as SentenceEncoder, {
      encode: (texts: readonly string[]) => {
        calls++;
        return tiny.encode(texts);
      },
    });
    const r = new Retriever(store, [useLite, tiny]);
    const stop = new AbortController();
    const first = await reembedPool(store, counting, { pageSize: 2, signal: stop.signal, onProgress: () => stop.abort() });
    expect(first.interrupted).toBe(true);
    expect(first.job.status).toBe("RUNNING");
    expect(first.job.done).toBe(2);
    const embeddedFirst = first.embedded;
    expect(embeddedFirst).toBeGreaterThan(0);
    // Still served by USE-lite while the new encoder's vectors are incomplete.
    r.refresh();
    expect((await r.retrieve({ input: "What is 12 times 12?", pool: offlinePool(teamA), baseModelId: model })).encoderId).toBe(useLite.identity);
    expect((await store.getEncoder(tiny.identity))!.active).toBe(false);

    calls = 0;
    const second = await reembedPool(store, counting, { pageSize: 2 });
    expect(second.job.id).toBe(first.job.id); // resumed, not restarted
    expect(second.job.status).toBe("DONE");
    expect(second.skippedCurrent).toBe(embeddedFirst);
    expect(second.embedded).toBe(5 - embeddedFirst);
    expect(calls).toBe(5 - embeddedFirst);
    r.refresh();
    const after = await r.retrieve({ input: "What is 12 times 12?", pool: offlinePool(teamA), baseModelId: model });
    expect(after.encoderId).toBe(tiny.identity);
    expect(after.adapters.length).toBeGreaterThan(0);
    // Both encoders' vectors remain stored (and the 16-d one has its own index).
    expect(await store.countEmbeddings(useLite.identity)).toBe(5);
    expect(await store.countEmbeddings(tiny.identity)).toBe(5);
  });

  test("editing an adapter's samples recomputes its embedding under the serving encoder", async () => {
    const r = new Retriever(store, [useLite, tiny]);
    const samples = TASKS.math!.map((t) => `${t} Show your work.`);
    await catalog.prisma.adapterSample.deleteMany({ where: { adapterId: ids["math-public"]! } });
    await catalog.prisma.adapterSample.createMany({ data: samples.map((text, position) => ({ adapterId: ids["math-public"]!, position, text })) });
    const before = await store.getEmbedding(ids["math-public"]!, tiny.identity);
    expect(await r.refreshAdapter(ids["math-public"]!)).toEqual([tiny.identity]);
    const after = await store.getEmbedding(ids["math-public"]!, tiny.identity);
    expect(after!.samplesHash).toBe(samplesHash(samples));
    expect(after!.samplesHash).not.toBe(before!.samplesHash);
    await expect(r.refreshAdapter(ids["too-few"]!)).rejects.toMatchObject({ code: RetrieverErrorCode.TOO_FEW_SAMPLES });
  });
});
