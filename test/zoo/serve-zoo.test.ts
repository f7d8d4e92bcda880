/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// The embedded default: without QUIVER_MODEL the server serves the model zoo and registers
// its task adapters into the first team through the pool's upload path (engine validation,
// storage, catalog, embedding), as PUBLIC adapters that become ACTIVE and retrievable. A
// restart registers nothing twice; one bad adapter is logged and the rest still join;
// QUIVER_MODEL wins over the zoo; a QUIVER_ZOO that names no zoo stops the start.
import path from "node:path";
import { cpSync, rmSync } from "node:fs";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { loadConfig } from "../../apps/api/src/config.js";
import { servedModel } from "../../apps/api/src/zoo/serving.js";
import { writeSyntheticAdapter } from "../../native/src/synthetic.js";
import { gql, login, startTestServer } from "../helpers/server.js";
import { MODEL, tempDir } from "../helpers/pool.js";
import { convertStories, storiesSkipReason } from "../helpers/stories.js";
import { addZooRetrieverHead, readManifest, writeFixtureZoo } from "../helpers/zoo.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the zoo serving tests: ${skip}`);
const describeZoo = skip ? describe.skip : describe;

interface AdapterRow {
  name: string;
  description: string;
  visibility: string;
  status: string;
  team: { name: string };
  baseModel: { name: string };
  samples: string[];
}

const ADAPTERS = `{ adapters(first: 50) { totalCount edges { node { name description visibility status team { name } baseModel { name } samples } } } }`;

describeZoo("serving the model zoo by default", () => {
  let zoo: string;
  beforeAll(() => {
    zoo = writeFixtureZoo();
  });
  afterAll(() => {
    if (zoo) rmSync(zoo, { recursive: true, force: true });
  });

  test("its adapters join the first team once: PUBLIC, ACTIVE, retrievable; a restart skips them", async () => {
    const dataDir = tempDir("zoo-serve");
    const dbDir = path.join(dataDir, "db");
    const env = { QUIVER_ZOO: zoo, QUIVER_DATA_DIR: dataDir, QUIVER_DEVICE: "cpu" };
    const manifest = readManifest(zoo);

    const lines: string[] = [];
    const first = await startTestServer(await openCatalog({ dataDir: dbDir }), env, { log: (l) => lines.push(l) });
    try {
      const health = (await (await fetch(`${first.api.url}/healthz`)).json()) as { engine: unknown };
      expect(health.engine).toMatchObject({ ok: true, device: "cpu" });
      expect(first.zooRegistration).toBeDefined();
      expect(await first.zooRegistration).toEqual({ registered: 4, skipped: 0, differing: 0, failed: 0, active: 4 });
      expect(lines).toContain("[quiver] zoo: 4 adapters registered (4 active), 0 already present");

      const auth = { authorization: `Bearer ${await login(first.api.url)}` };
      const list = await gql<{ adapters: { totalCount: number; edges: { node: AdapterRow }[] } }>(first.api.url, ADAPTERS, {}, auth);
      const rows = list.data!.adapters.edges.map((e) => e.node);
      expect(rows.map((r) => r.name).sort()).toEqual(manifest.tasks.map((t) => t.name).sort());
      for (const t of manifest.tasks) {
        expect(rows.find((r) => r.name === t.name)).toMatchObject({ description: t.description, visibility: "PUBLIC", status: "ACTIVE", team: { name: "Default" }, samples: t.samples });
      }
      const retrieve = await gql<{ retrieve: { adapter: { name: string }; score: number }[] }>(
        first.api.url,
        `{ retrieve(input: "What is 21 plus 4? Give the sum.", k: 2) { adapter { name } score } }`,
        {},
        auth,
      );
      expect(retrieve.data!.retrieve.map((r) => r.adapter.name)).toEqual(["add", "multiply"]);
    } finally {
      await first.close();
    }

    lines.length = 0;
    const second = await startTestServer(await openCatalog({ dataDir: dbDir }), env, { log: (l) => lines.push(l) });
    try {
      expect(await second.zooRegistration).toEqual({ registered: 0, skipped: 4, differing: 0, failed: 0, active: 0 });
      expect(lines).toContain("[quiver] zoo: 0 adapters registered (0 active), 4 already present");
      const auth = { authorization: `Bearer ${await login(second.api.url)}` };
      const list = await gql<{ adapters: { totalCount: number } }>(second.api.url, ADAPTERS, {}, auth);
      expect(list.data!.adapters.totalCount).toBe(4);
      const versions = await second.services.catalog.prisma.adapterVersion.count();
      expect(versions).toBe(4);
    } finally {
      await second.close();
    }
  }, 180_000);

  test("a zoo with a retriever head: the server embeds and retrieves through it; turned off, it still answers while re-embedding", async () => {
    const withHead = tempDir("zoo-head");
    cpSync(zoo, withHead, { recursive: true });
    await addZooRetrieverHead(withHead);
    const dataDir = tempDir("zoo-head-data");
    const dbDir = path.join(dataDir, "db");
    const env = { QUIVER_ZOO: withHead, QUIVER_DATA_DIR: dataDir, QUIVER_DEVICE: "cpu" };
    const q = `{ retrieve(input: "What is 21 plus 4? Give the sum.", k: 2) { adapter { name } } }`;
    const lines: string[] = [];
    const first = await startTestServer(await openCatalog({ dataDir: dbDir }), env, { log: (l) => lines.push(l) });
    let headId: string;
    try {
      expect(await first.zooRegistration).toMatchObject({ registered: 4, active: 4 });
      const encoderLine = lines.find((l) => l.startsWith("[quiver] encoder: "));
      expect(encoderLine).toMatch(/^\[quiver\] encoder: head:[0-9a-f]{16}@use-lite@0\.2\.0$/);
      headId = encoderLine!.slice("[quiver] encoder: ".length);
      expect((await first.services.embeddings.activeEncoder())?.id).toBe(headId);
      const auth = { authorization: `Bearer ${await login(first.api.url)}` };
      const retrieve = await gql<{ retrieve: { adapter: { name: string } }[] }>(first.api.url, q, {}, auth);
      expect(retrieve.data!.retrieve.map((r) => r.adapter.name)).toEqual(["add", "multiply"]);
    } finally {
      await first.close();
    }

    // QUIVER_RETRIEVER_HEAD=off: the pool moves to the encoder alone in the background, and the
    // zoo's head (a folder the server knows) answers meanwhile.
    lines.length = 0;
    process.env.QUIVER_RETRIEVER_HEAD = "off";
    try {
      const second = await startTestServer(await openCatalog({ dataDir: dbDir }), env, { log: (l) => lines.push(l) });
      try {
        expect(lines).toContain(`[quiver] re-embedding the pool under use-lite@0.2.0 in the background (retrieval uses ${headId} until it completes)`);
        expect(lines.some((l) => l.includes("cannot be loaded here"))).toBe(false);
        const auth = { authorization: `Bearer ${await login(second.api.url)}` };
        const during = await gql<{ retrieve: { adapter: { name: string } }[] }>(second.api.url, q, {}, auth);
        expect(during.data!.retrieve[0]!.adapter.name).toBe("add");
        await second.services.embedder!.reembedding;
        expect((await second.services.embeddings.activeEncoder())?.id).toBe("use-lite@0.2.0");
      } finally {
        await second.close();
      }
    } finally {
      delete process.env.QUIVER_RETRIEVER_HEAD;
      rmSync(withHead, { recursive: true, force: true });
    }
  }, 180_000);

  test("an adapter that does not fit is logged with its reason; the others register and the server runs", async () => {
    const bad = tempDir("zoo-bad");
    cpSync(zoo, bad, { recursive: true });
    const folder = path.join(bad, "adapters", "add");
    rmSync(folder, { recursive: true });
    writeSyntheticAdapter(folder, MODEL, { rank: 4, alpha: 8, rslora: false, modules: ["q_proj", "v_proj"], seed: 3 });
    const lines: string[] = [];
    const quiver = await startTestServer(await openCatalog({}), { QUIVER_ZOO: bad, QUIVER_DATA_DIR: tempDir("zoo-bad-data"), QUIVER_DEVICE: "cpu" }, { log: (l) => lines.push(l) });
    try {
      expect(await quiver.zooRegistration).toMatchObject({ registered: 3, failed: 1, active: 3 });
      expect(lines.find((l) => l.includes('adapter "add" was not registered'))).toMatch(/\[ADAPTER_INVALID\] .*lora_A/);
      expect(lines.at(-1)).toBe("[quiver] zoo: 3 adapters registered (3 active), 0 already present, 1 failed (see above)");
      expect((await fetch(`${quiver.api.url}/healthz`)).status).toBe(200);
    } finally {
      await quiver.close();
      rmSync(bad, { recursive: true, force: true });
    }
  }, 120_000);

  test("QUIVER_MODEL wins: its model is served and the zoo is not registered", async () => {
    const quiver = await startTestServer(await openCatalog({}), { QUIVER_MODEL: convertStories(), QUIVER_ZOO: zoo, QUIVER_DATA_DIR: tempDir("zoo-model"), QUIVER_DEVICE: "cpu" });
    try {
      expect(quiver.zooRegistration).toBeUndefined();
      expect(await quiver.services.catalog.prisma.adapter.count()).toBe(0);
    } finally {
      await quiver.close();
    }
  }, 60_000);

  test("which model to serve: QUIVER_MODEL, else an existing zoo; a named zoo must exist", async () => {
    const missing = path.join(tempDir("no-zoo"), "zoo");
    expect(servedModel(loadConfig({ QUIVER_MODEL: "/models/m", QUIVER_ZOO: zoo }))).toEqual({ modelDir: "/models/m" });
    expect(servedModel(loadConfig({ QUIVER_ZOO: zoo }))).toMatchObject({ modelDir: path.join(zoo, "model"), zoo: { dir: zoo } });
    expect(servedModel(loadConfig({ QUIVER_ZOO: "off" }))).toBeUndefined();
    // The default location without a zoo: nothing to serve, as before the zoo existed.
    expect(servedModel({ ...loadConfig({}), zoo: { dir: missing, explicit: false } })).toBeUndefined();
    await expect(startTestServer(await openCatalog({}), { QUIVER_ZOO: missing, QUIVER_DATA_DIR: tempDir("zoo-missing") })).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringContaining(path.join(missing, "tasks.json")),
    });
  });
});
