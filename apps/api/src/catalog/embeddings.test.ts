// EmbeddingStore on both database kinds: vectors round-trip, k-NN search ranks by cosine
// through the HNSW index and honours the access scope (team + PUBLIC, base model, ACTIVE,
// excludes, encoder), job rows move through their states.
import { offlinePool } from "../auth/policy.js";
import type { Catalog } from "./database.js";
import { EmbeddingStore } from "./embeddings.js";
import { catalogKinds } from "../../../../test/helpers/catalogs.js";

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function unit(rand: () => number, d: number): Float32Array {
  const v = Float32Array.from({ length: d }, () => rand() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

const cos = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe.each(catalogKinds())("EmbeddingStore on $kind", ({ open }) => {
  let catalog: Catalog;
  let store: EmbeddingStore;
  // Two teams, two base models; adapters in every access situation.
  let ids: Record<string, string>;
  let teamA: string;
  let modelX: string;
  const rand = seeded(42);
  const D = 8;
  const vectors = new Map<string, Float32Array>();

  beforeAll(async () => {
    catalog = await open();
    store = new EmbeddingStore(catalog.prisma);
    const p = catalog.prisma;
    const [a, b] = await Promise.all([
      p.team.create({ data: { name: "A", slug: `a-${Date.now()}` } }),
      p.team.create({ data: { name: "B", slug: `b-${Date.now()}` } }),
    ]);
    const model = (name: string) =>
      p.baseModel.create({
        data: {
          name,
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
      });
    const [x, y] = await Promise.all([model(`x-${Date.now()}`), model(`y-${Date.now()}`)]);
    teamA = a.id;
    modelX = x.id;
    const specs = [
      { name: "a-own-1", teamId: a.id, baseModelId: x.id },
      { name: "a-own-2", teamId: a.id, baseModelId: x.id },
      { name: "a-own-3", teamId: a.id, baseModelId: x.id },
      { name: "a-disabled", teamId: a.id, baseModelId: x.id, status: "DISABLED" as const },
      { name: "a-pending", teamId: a.id, baseModelId: x.id, status: "PENDING" as const },
      { name: "a-other-model", teamId: a.id, baseModelId: y.id },
      { name: "b-private", teamId: b.id, baseModelId: x.id },
      { name: "b-public", teamId: b.id, baseModelId: x.id, visibility: "PUBLIC" as const },
      { name: "b-public-other-model", teamId: b.id, baseModelId: y.id, visibility: "PUBLIC" as const },
    ];
    ids = {};
    for (const s of specs) {
      const row = await p.adapter.create({ data: { status: "ACTIVE", ...s } });
      ids[s.name] = row.id;
    }
    await store.registerEncoder({ identity: "test-enc", kind: "onnx", name: "test", dimension: D, prefix: "" });
    await store.registerEncoder({ identity: "other-enc", kind: "onnx", name: "other", dimension: D, prefix: "" });
    const rows = Object.entries(ids).map(([name, adapterId]) => {
      const v = unit(rand, D);
      vectors.set(name, v);
      return { adapterId, encoderId: "test-enc", vector: v, samplesHash: `h-${name}` };
    });
    await store.upsertEmbeddings(rows);
  }, 120_000);
  afterAll(async () => {
    await catalog?.close();
  });

  test("registering an encoder of a new dimension creates its partial HNSW index", async () => {
    const idx = await catalog.prisma.$queryRaw<{ indexdef: string }[]>`
      SELECT indexdef FROM pg_indexes WHERE indexname = ${`AdapterEmbedding_hnsw_cosine_${D}`}`;
    expect(idx).toHaveLength(1);
    expect(idx[0]!.indexdef).toMatch(/hnsw/);
    expect(idx[0]!.indexdef).toMatch(/vector_cosine_ops/);
    expect(idx[0]!.indexdef).toMatch(/dimension = 8/);
  });

  test("an embedding round-trips and an upsert replaces it", async () => {
    const got = await store.getEmbedding(ids["a-own-1"]!, "test-enc");
    expect(got!.samplesHash).toBe("h-a-own-1");
    got!.vector.forEach((x, i) => expect(x).toBeCloseTo(vectors.get("a-own-1")![i]!, 6));
    const v = unit(rand, D);
    await store.upsertEmbedding({ adapterId: ids["a-own-1"]!, encoderId: "test-enc", vector: v, samplesHash: "new" });
    const again = await store.getEmbedding(ids["a-own-1"]!, "test-enc");
    expect(again!.samplesHash).toBe("new");
    expect(cos(again!.vector, v)).toBeCloseTo(1, 6);
    vectors.set("a-own-1", v);
    expect((await store.storedHashes("test-enc", [ids["a-own-1"]!, ids["b-public"]!])).get(ids["b-public"]!)).toBe("h-b-public");
  });

  test("several embeddings in one call: each by its adapter, missing ones absent", async () => {
    const missing = "00000000-0000-4000-8000-000000000000";
    const got = await store.getEmbeddings([ids["a-own-1"]!, missing, ids["b-public"]!], "test-enc");
    expect([...got.keys()].sort()).toEqual([ids["a-own-1"]!, ids["b-public"]!].sort());
    for (const name of ["a-own-1", "b-public"]) {
      const one = await store.getEmbedding(ids[name]!, "test-enc");
      expect(got.get(ids[name]!)!.samplesHash).toBe(one!.samplesHash);
      expect(Array.from(got.get(ids[name]!)!.vector)).toEqual(Array.from(one!.vector));
    }
    expect((await store.getEmbeddings([ids["a-own-1"]!], "other-encoder")).size).toBe(0);
    expect((await store.getEmbeddings([], "test-enc")).size).toBe(0);
  });

  test("public adapters are opt-in: another team's PUBLIC adapter is searched only once the team added it", async () => {
    const q = unit(rand, D);
    await catalog.prisma.teamPoolAdapter.deleteMany({ where: { teamId: teamA } });
    const before = await store.search("test-enc", q, 10, { pool: offlinePool(teamA), baseModelId: modelX });
    expect(before.map((h) => h.name).sort()).toEqual(["a-own-1", "a-own-2", "a-own-3"]);
    await catalog.prisma.teamPoolAdapter.create({ data: { teamId: teamA, adapterId: ids["b-public"]! } });
    // A PRIVATE adapter added to the pool (it was public once) is never searched.
    await catalog.prisma.teamPoolAdapter.create({ data: { teamId: teamA, adapterId: ids["b-private"]! } });
    const after = await store.search("test-enc", q, 10, { pool: offlinePool(teamA), baseModelId: modelX });
    expect(after.map((h) => h.name).sort()).toEqual(["a-own-1", "a-own-2", "a-own-3", "b-public"]);
  });

  test("search returns exactly the adapters the caller may use, ranked by cosine, with scores", async () => {
    const q = unit(rand, D);
    const hits = await store.search("test-enc", q, 10, { pool: offlinePool(teamA), baseModelId: modelX });
    const visible = ["a-own-1", "a-own-2", "a-own-3", "b-public"];
    expect(hits.map((h) => h.name).sort()).toEqual([...visible].sort());
    const expected = visible.map((n) => ({ n, s: cos(q, vectors.get(n)!) })).sort((x, y) => y.s - x.s);
    expect(hits.map((h) => h.name)).toEqual(expected.map((e) => e.n));
    hits.forEach((h, i) => expect(h.score).toBeCloseTo(expected[i]!.s, 5));
  });

  test("k limits, excludes drop adapters, another encoder's vectors stay apart", async () => {
    const q = vectors.get("a-own-2")!;
    const top1 = await store.search("test-enc", q, 1, { pool: offlinePool(teamA), baseModelId: modelX });
    expect(top1.map((h) => h.name)).toEqual(["a-own-2"]);
    expect(top1[0]!.score).toBeCloseTo(1, 5);
    const ood = await store.search("test-enc", q, 10, { pool: offlinePool(teamA), baseModelId: modelX, exclude: [ids["a-own-2"]!, ids["b-public"]!] });
    expect(ood.map((h) => h.name).sort()).toEqual(["a-own-1", "a-own-3"]);
    expect(await store.search("other-enc", q, 10, { pool: offlinePool(teamA), baseModelId: modelX })).toEqual([]);
  });

  test("the index search agrees with the exact search", async () => {
    for (let i = 0; i < 5; i++) {
      const q = unit(rand, D);
      const scope = { pool: offlinePool(teamA), baseModelId: modelX };
      const approx = await store.search("test-enc", q, 3, scope);
      const exact = await store.search("test-enc", q, 3, scope, { exact: true });
      expect(approx.map((h) => h.adapterId)).toEqual(exact.map((h) => h.adapterId));
    }
  });

  test("the search query can use the HNSW index (512-d from the migration, 8-d added)", async () => {
    const scope = { pool: offlinePool(teamA), baseModelId: modelX, exclude: [ids["a-own-3"]!] };
    const plan8 = await store.explainSearch("test-enc", unit(rand, D), 3, scope, { forceIndex: true });
    expect(plan8).toContain("AdapterEmbedding_hnsw_cosine_8");
    const plan512 = await store.explainSearch("test-enc", unit(rand, 512), 3, scope, { forceIndex: true });
    expect(plan512).toContain("AdapterEmbedding_hnsw_cosine_512");
    const exact = await store.explainSearch("test-enc", unit(rand, D), 3, scope, { exact: true });
    expect(exact).not.toContain("hnsw");
  });

  test("the active encoder switches atomically", async () => {
    await store.activateEncoder("test-enc");
    expect((await store.activeEncoder())!.id).toBe("test-enc");
    await store.activateEncoder("other-enc");
    expect((await store.activeEncoder())!.id).toBe("other-enc");
    expect((await store.getEncoder("test-enc"))!.active).toBe(false);
  });

  test("a job moves QUEUED -> RUNNING -> DONE with progress, and is found while unfinished", async () => {
    const job = await store.createJob("test-enc", 0);
    expect(job.status).toBe("QUEUED");
    expect((await store.unfinishedJob("test-enc"))!.id).toBe(job.id);
    await store.markJobRunning(job.id, 9);
    await store.recordJobProgress(job.id, 4);
    expect(await store.getJob(job.id)).toMatchObject({ status: "RUNNING", total: 9, done: 4 });
    await store.finishJob(job.id, "DONE");
    expect((await store.getJob(job.id))!.finishedAt).toBeInstanceOf(Date);
    expect(await store.unfinishedJob("test-enc")).toBeNull();
  });

  test("rejects a bad dimension or k before any SQL runs", async () => {
    await expect(store.search("test-enc", new Float32Array(0), 3, { pool: offlinePool(teamA), baseModelId: modelX })).rejects.toThrow(RangeError);
    await expect(store.search("test-enc", unit(rand, D), 0, { pool: offlinePool(teamA), baseModelId: modelX })).rejects.toThrow(RangeError);
  });
});
