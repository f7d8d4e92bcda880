/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Adapter uploads end to end on a server that serves a (synthetic) base model: registration,
// PENDING -> ACTIVE through embedding, pool events over WebSocket, versions, samples,
// disable/enable/delete; and uploads that must fail with a code and leave nothing behind.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import type { Quiver } from "../../apps/api/src/app.js";
import type { Catalog } from "../../apps/api/src/catalog/database.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { gql, login } from "../helpers/server.js";
import { makeTar, makeZip } from "../helpers/archives.js";
import { waitUntil } from "../helpers/wait.js";
import { OTHER_MODEL, SAMPLES, adapterFiles, filesUnder, startPoolServer, upload, writeAdapter } from "../helpers/pool.js";

let catalog: Catalog;
let quiver: Quiver;
let url: string;
let token: string;
let dataDir: string;

beforeAll(async () => {
  catalog = await openCatalog({});
  ({ quiver, dataDir } = await startPoolServer(catalog));
  url = quiver.api.url;
  token = await login(url);
}, 120_000);
afterAll(() => quiver?.close());

const auth = () => ({ authorization: `Bearer ${token}` });

async function adapterState(id: string) {
  const r = await gql<{
    adapter: {
      status: string;
      statusReason: string | null;
      version: number;
      rank: number;
      targetModules: string[];
      contentHash: string;
      byteSize: number;
      samples: string[];
      versions: { version: number; status: string }[];
    };
  }>(
    url,
    `query($id: ID!) { adapter(id: $id) { status statusReason version rank targetModules contentHash byteSize samples versions { version status } } }`,
    { id },
    auth(),
  );
  return r.data!.adapter;
}

async function footprint() {
  const p = catalog.prisma;
  const [adapters, versions, samples, embeddings, audit] = await Promise.all([
    p.adapter.count(),
    p.adapterVersion.count(),
    p.adapterSample.count(),
    p.adapterEmbedding.count(),
    p.auditLogEntry.count(),
  ]);
  return {
    adapters,
    versions,
    samples,
    embeddings,
    audit,
    files: filesUnder(path.join(dataDir, "adapters")),
    staging: filesUnder(path.join(dataDir, "staging")),
  };
}

test("an upload becomes ACTIVE once embedded, with its LoRA shape recorded and events streamed", async () => {
  const client = createClient({
    url: url.replace("http", "ws") + "/graphql",
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
  });
  const subscribers = quiver.services.poolEvents.subscriberCount;
  const events: { kind: string; adapter: { name: string; status: string } | null }[] = [];
  const unsubscribe = client.subscribe<{ poolEvents: { kind: string; adapter: { name: string; status: string } | null } }>(
    { query: `subscription { poolEvents { kind adapterId adapter { name status } } }` },
    { next: (v) => v.data && events.push(v.data.poolEvents), error: () => undefined, complete: () => undefined },
  );
  // Upload only once the server holds the subscription.
  await waitUntil("the server holds the subscription", () => quiver.services.poolEvents.subscriberCount > subscribers);

  const dir = writeAdapter({ rank: 4, modules: ["q_proj", "v_proj", "down_proj"] });
  const r = await upload(url, token, { name: "translate-fr", description: "English to French", samples: SAMPLES }, adapterFiles(dir));
  expect(r.status).toBe(201);
  expect(r.body.adapter).toMatchObject({ status: "PENDING", version: 1 });
  await quiver.services.pool.idle();
  const a = await adapterState(r.body.adapter!.id);
  const weights = readFileSync(path.join(dir, "adapter_model.safetensors"));
  expect(a).toMatchObject({
    status: "ACTIVE",
    statusReason: null,
    version: 1,
    rank: 4,
    targetModules: ["q_proj", "v_proj", "down_proj"],
    contentHash: createHash("sha256").update(weights).digest("hex"),
    byteSize: weights.length,
    samples: SAMPLES,
  });
  const emb = await catalog.prisma.adapterEmbedding.findMany({ where: { adapterId: r.body.adapter!.id } });
  expect(emb).toHaveLength(1);
  expect(emb[0]!.dimension).toBe(512);
  await waitUntil("two pool events arrived", () => events.length >= 2);
  await new Promise((res) => setTimeout(res, 100)); // room for an unexpected third event
  expect(events.map((e) => `${e.kind}:${e.adapter?.status}`)).toEqual(["ADDED:PENDING", "UPDATED:ACTIVE"]);
  unsubscribe();
  await client.dispose();
}, 60_000);

test("archives: zip, tar and tar.gz with the files at the root or in one folder", async () => {
  const files = adapterFiles(writeAdapter({ seed: 11 }));
  const zip = makeZip(files.map((f) => ({ name: `my-adapter/${f.filename}`, data: f.data, deflate: true })));
  const tar = await makeTar(
    [
      { name: "adapter", type: "directory" },
      ...files.map((f) => ({ name: `adapter/${f.filename}`, data: f.data })),
      { name: "adapter/README.md", data: Buffer.from("hi") },
    ],
    false,
  );
  const tgz = await makeTar(
    files.map((f) => ({ name: f.filename, data: f.data })),
    true,
  );
  for (const [i, [filename, data]] of (
    [
      ["a.zip", zip],
      ["a.tar", tar],
      ["a.tar.gz", tgz],
    ] as const
  ).entries()) {
    const r = await upload(url, token, { name: `archived-${i}`, samples: SAMPLES }, [{ filename, data }]);
    expect({ filename, status: r.status }).toEqual({ filename, status: 201 });
  }
  await quiver.services.pool.idle();
}, 60_000);

describe("uploads that must fail leave nothing behind", () => {
  let before: Awaited<ReturnType<typeof footprint>>;
  let viewerKey: string;
  beforeAll(async () => {
    const team = await catalog.prisma.team.findFirstOrThrow();
    const key = await gql<{ createApiKey: { secret: string } }>(
      url,
      `mutation($t: ID!) { createApiKey(teamId: $t, name: "viewer", role: VIEWER) { secret } }`,
      { t: team.id },
      auth(),
    );
    viewerKey = key.data!.createApiKey.secret;
  });
  beforeEach(async () => {
    await quiver.services.pool.idle();
    before = await footprint();
  });
  afterEach(async () => {
    await quiver.services.pool.idle();
    expect(await footprint()).toEqual(before);
  });

  const good = () => adapterFiles(writeAdapter({ seed: 21 }));
  const expectError = (r: Awaited<ReturnType<typeof upload>>, status: number, code: string, reason?: string) => {
    expect({
      status: r.status,
      code: r.body.errors?.[0]?.extensions.code,
      ...(reason ? { reason: r.body.errors?.[0]?.extensions.details?.reason } : {}),
    }).toEqual({ status, code, ...(reason ? { reason } : {}) });
  };

  test("a zip bomb", async () => {
    const bomb = makeZip([
      { name: "adapter_model.safetensors", data: Buffer.alloc(900 * 1024), deflate: true },
      { name: "adapter_config.json", data: good()[0]!.data },
    ]);
    expect(bomb.length).toBeLessThan(10_000);
    const r = await upload(url, token, { name: "bomb", samples: SAMPLES }, [{ filename: "bomb.zip", data: bomb }]);
    expectError(r, 422, "ADAPTER_INVALID", "COMPRESSION_RATIO");
  });

  test("a path traversal name in an archive (zip and tar)", async () => {
    const [config, weights] = good();
    const zip = makeZip([
      { name: "../adapter_config.json", data: config!.data },
      { name: "adapter_model.safetensors", data: weights!.data },
    ]);
    expectError(await upload(url, token, { name: "escape", samples: SAMPLES }, [{ filename: "x.zip", data: zip }]), 422, "ADAPTER_INVALID", "UNSAFE_PATH");
    const tar = await makeTar(
      [
        { name: "/etc/adapter_config.json", data: config!.data },
        { name: "adapter_model.safetensors", data: weights!.data },
      ],
      true,
    );
    expectError(await upload(url, token, { name: "escape", samples: SAMPLES }, [{ filename: "x.tgz", data: tar }]), 422, "ADAPTER_INVALID", "UNSAFE_PATH");
    const link = await makeTar(
      [
        { name: "adapter_config.json", type: "symlink", linkname: "/etc/passwd" },
        { name: "adapter_model.safetensors", data: weights!.data },
      ],
      false,
    );
    expectError(await upload(url, token, { name: "escape", samples: SAMPLES }, [{ filename: "x.tar", data: link }]), 422, "ADAPTER_INVALID", "UNSAFE_PATH");
  });

  test("a file over the size limit", async () => {
    const [config] = good();
    const r = await upload(url, token, { name: "huge", samples: SAMPLES }, [
      config!,
      { filename: "adapter_model.safetensors", data: Buffer.alloc(1024 * 1024 + 10) },
    ]);
    expectError(r, 413, "PAYLOAD_TOO_LARGE");
  });

  test("a truncated safetensors file", async () => {
    const [config, weights] = good();
    const r = await upload(url, token, { name: "truncated", samples: SAMPLES }, [
      config!,
      { filename: weights!.filename, data: weights!.data.subarray(0, weights!.data.length - 100) },
    ]);
    expectError(r, 422, "ADAPTER_INVALID", "FILE_CORRUPT");
  });

  test("wrong shapes for the base model", async () => {
    const r = await upload(url, token, { name: "wrong-model", samples: SAMPLES }, adapterFiles(writeAdapter({ model: OTHER_MODEL })));
    expectError(r, 422, "ADAPTER_INVALID", "BASE_MISMATCH");
    expect(r.body.errors![0]!.extensions).toHaveProperty("hint");
    // No server paths in what the client sees.
    expect(JSON.stringify(r.body)).not.toMatch(/staging|\/tmp\/|quiver-data/);
  });

  test("NaN weights", async () => {
    const dir = writeAdapter({ seed: 31 });
    const file = path.join(dir, "adapter_model.safetensors");
    const buf = readFileSync(file);
    const dataStart = 8 + Number(buf.readBigUInt64LE(0));
    buf.writeFloatLE(Number.NaN, dataStart + 4 * 5);
    writeFileSync(file, buf);
    const nan = await upload(url, token, { name: "nan", samples: SAMPLES }, adapterFiles(dir));
    expectError(nan, 422, "ADAPTER_INVALID", "NON_FINITE");
    expect(JSON.stringify(nan.body)).not.toMatch(/staging|\/tmp\/|quiver-data/);
  });

  test("a config that disagrees with the weights", async () => {
    const [config, weights] = good();
    const wrongRank = { ...JSON.parse(config!.data.toString()), r: 8 };
    expectError(
      await upload(url, token, { name: "mismatch", samples: SAMPLES }, [
        { filename: config!.filename, data: Buffer.from(JSON.stringify(wrongRank)) },
        weights!,
      ]),
      422,
      "ADAPTER_INVALID",
      "CONFIG_MISMATCH",
    );
    const wrongModules = { ...JSON.parse(config!.data.toString()), target_modules: ["q_proj", "k_proj"] };
    expectError(
      await upload(url, token, { name: "mismatch", samples: SAMPLES }, [
        { filename: config!.filename, data: Buffer.from(JSON.stringify(wrongModules)) },
        weights!,
      ]),
      422,
      "ADAPTER_INVALID",
      "CONFIG_MISMATCH",
    );
  });

  test("a duplicate name", async () => {
    expectError(await upload(url, token, { name: "translate-fr", samples: SAMPLES }, good()), 409, "CONFLICT");
  });

  test("too few, duplicate or malformed samples, checked before any byte is read", async () => {
    expectError(await upload(url, token, { name: "few", samples: SAMPLES.slice(0, 5) }, good()), 422, "SAMPLES_INVALID", "TOO_FEW_SAMPLES");
    expectError(
      await upload(url, token, { name: "dups", samples: [...SAMPLES.slice(0, 11), SAMPLES[0]!] }, good()),
      422,
      "SAMPLES_INVALID",
      "DUPLICATE_SAMPLES",
    );
    expectError(await upload(url, token, { name: "bad", samples: "not json" }, good()), 422, "SAMPLES_INVALID", "MALFORMED");
  });

  test("a bad name, missing files, stray files, fields after files", async () => {
    expectError(await upload(url, token, { name: "Bad Name!", samples: SAMPLES }, good()), 400, "BAD_USER_INPUT");
    expectError(await upload(url, token, { name: "one-file", samples: SAMPLES }, [good()[0]!]), 422, "ADAPTER_INVALID", "FILE_MISSING");
    expectError(
      await upload(url, token, { name: "stray", samples: SAMPLES }, [...good(), { filename: "evil.sh", data: Buffer.from("x") }]),
      422,
      "ADAPTER_INVALID",
      "UNEXPECTED_FILE",
    );
    const form = new FormData();
    form.append("file", new Blob([good()[0]!.data]), "adapter_config.json");
    form.append("name", "late");
    const res = await fetch(`${url}/v1/adapters`, { method: "POST", headers: auth(), body: form });
    expect(res.status).toBe(400);
  });

  test("no credentials, a VIEWER, another team", async () => {
    const anon = await fetch(`${url}/v1/adapters`, { method: "POST", body: new FormData() });
    expect(anon.status).toBe(401);
    const viewer = await upload(url, viewerKey, { name: "viewer-upload", samples: SAMPLES }, good());
    expectError(viewer, 403, "FORBIDDEN");
    const other = await upload(url, token, { name: "elsewhere", samples: SAMPLES, teamId: "00000000-0000-4000-8000-000000000000" }, good());
    expectError(other, 404, "NOT_FOUND");
  });
});

test("the pool map orders related adapters together and projects them", async () => {
  const topics = {
    translate: SAMPLES,
    arithmetic: Array.from({ length: 12 }, (_, i) => `What is ${i + 3} plus ${i * 7 + 2}? Answer with a number.`),
  };
  for (const [topic, samples] of Object.entries(topics)) {
    for (const k of [1, 2]) {
      const r = await upload(
        url,
        token,
        { name: `map-${topic}-${k}`, samples: samples.map((s) => `${s} (${k})`) },
        adapterFiles(writeAdapter({ seed: 50 + k })),
      );
      expect(r.status).toBe(201);
    }
  }
  await quiver.services.pool.idle();
  const r = await gql<{
    poolMap: { encoderId: string; adapters: { name: string }[]; similarity: number[][]; points: { adapter: { name: string }; x: number; y: number }[] };
  }>(url, `{ poolMap { encoderId adapters { name } similarity points { adapter { name } x y } } }`, {}, auth());
  const map = r.data!.poolMap;
  expect(map.encoderId).toMatch(/^use-lite@/);
  const names = map.adapters.map((a) => a.name).filter((n) => n.startsWith("map-"));
  const topicsInOrder = names.map((n) => n.split("-")[1]).filter((t, i, arr) => i === 0 || t !== arr[i - 1]);
  expect(topicsInOrder).toHaveLength(2);
  const n = map.adapters.length;
  expect(map.similarity).toHaveLength(n);
  map.similarity.forEach((row, i) => {
    expect(row).toHaveLength(n);
    expect(row[i]).toBeCloseTo(1, 3);
  });
  expect(map.points.map((p) => p.adapter.name)).toEqual(map.adapters.map((a) => a.name));
  // Neighbours: the other adapter of the same topic comes first.
  const t1 = await catalog.prisma.adapter.findFirstOrThrow({ where: { name: "map-translate-1" } });
  const nb = await gql<{ adapter: { neighbours: { adapter: { name: string }; score: number; weight: number | null }[] } }>(
    url,
    `query($id: ID!) { adapter(id: $id) { neighbours(k: 3) { adapter { name } score weight } } }`,
    { id: t1.id },
    auth(),
  );
  const neighbours = nb.data!.adapter.neighbours;
  expect(neighbours[0]!.adapter.name).toBe("map-translate-2");
  expect(neighbours.map((n) => n.adapter.name)).not.toContain("map-translate-1");
  expect(neighbours[0]!.score).toBeGreaterThanOrEqual(neighbours.at(-1)!.score);
  expect(neighbours[0]!.weight).toBeNull();
});

test("new weights become version 2; samples, visibility, disable/enable and delete", async () => {
  const first = await upload(url, token, { name: "versioned", samples: SAMPLES }, adapterFiles(writeAdapter({ seed: 41 })));
  await quiver.services.pool.idle();
  const id = first.body.adapter!.id;
  const v2 = await upload(url, token, {}, adapterFiles(writeAdapter({ seed: 42, rank: 8 })), `/v1/adapters/${id}/versions`);
  expect(v2.status).toBe(201);
  const a = await adapterState(id);
  expect(a).toMatchObject({
    status: "ACTIVE",
    version: 2,
    rank: 8,
    versions: [
      { version: 2, status: "ACTIVE" },
      { version: 1, status: "ACTIVE" },
    ],
  });

  const hashBefore = (await catalog.prisma.adapterEmbedding.findFirstOrThrow({ where: { adapterId: id } })).samplesHash;
  const newSamples = SAMPLES.map((s) => s.replace("French", "German"));
  const set = await gql(url, `mutation($id: ID!, $s: [String!]!) { setAdapterSamples(id: $id, samples: $s) { samples } }`, { id, s: newSamples }, auth());
  expect(set.data).toEqual({ setAdapterSamples: { samples: newSamples } });
  expect((await catalog.prisma.adapterEmbedding.findFirstOrThrow({ where: { adapterId: id } })).samplesHash).not.toBe(hashBefore);
  const tooFew = await gql(url, `mutation($id: ID!) { setAdapterSamples(id: $id, samples: ["a"]) { samples } }`, { id }, auth());
  expect(tooFew.errors![0]!.extensions!.code).toBe("SAMPLES_INVALID");
  expect((await adapterState(id)).samples).toEqual(newSamples);

  const upd = await gql(
    url,
    `mutation($id: ID!) { updateAdapter(id: $id, changes: { visibility: PUBLIC, description: "d" }) { visibility description } }`,
    { id },
    auth(),
  );
  expect(upd.data).toEqual({ updateAdapter: { visibility: "PUBLIC", description: "d" } });
  expect((await gql(url, `mutation($id: ID!) { disableAdapter(id: $id) { status } }`, { id }, auth())).data).toEqual({
    disableAdapter: { status: "DISABLED" },
  });
  expect((await gql(url, `mutation($id: ID!) { enableAdapter(id: $id) { status } }`, { id }, auth())).data).toEqual({ enableAdapter: { status: "ACTIVE" } });

  const files = filesUnder(path.join(dataDir, "adapters")).filter((f) => f.startsWith(id));
  expect(files).toHaveLength(4);
  expect((await gql(url, `mutation($id: ID!) { deleteAdapter(id: $id) }`, { id }, auth())).data).toEqual({ deleteAdapter: true });
  expect(filesUnder(path.join(dataDir, "adapters")).filter((f) => f.startsWith(id))).toEqual([]);
  expect(await catalog.prisma.adapter.count({ where: { id } })).toBe(0);
  expect(await catalog.prisma.auditLogEntry.count({ where: { targetId: id } })).toBeGreaterThanOrEqual(6);
}, 60_000);
