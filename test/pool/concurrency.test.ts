/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Concurrent uploads, deletes and edits of the same names on PostgreSQL (real parallel
// transactions): every answer is a success or a coded conflict, and afterwards the catalog
// and the file storage agree (no adapter without its files, no files without their version,
// one adapter per name).
import { readdirSync, existsSync } from "node:fs";
import path from "node:path";
import type { Quiver } from "../../apps/api/src/app.js";
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import { gql, login } from "../helpers/server.js";
import { SAMPLES, adapterFiles, filesUnder, startPoolServer, upload, writeAdapter } from "../helpers/pool.js";

const skip = postgresSkipReason();
const required = process.env.QUIVER_REQUIRE_POSTGRES === "1";
if (skip && !required) console.log(`Skipping the PostgreSQL concurrency tests: ${skip}`);
const describePg = skip && !required ? describe.skip : describe;

describePg("the pool under concurrent writers (PostgreSQL)", () => {
  let quiver: Quiver;
  let url: string;
  let token: string;
  let dataDir: string;
  const files = [adapterFiles(writeAdapter({ seed: 91 })), adapterFiles(writeAdapter({ seed: 92, rank: 8 }))];

  beforeAll(async () => {
    if (skip) throw new Error(`PostgreSQL is required here (QUIVER_REQUIRE_POSTGRES=1) but: ${skip}`);
    // Races in the catalog, not the upload limits (upload-limits.test.ts): room for every writer.
    ({ quiver, dataDir } = await startPoolServer(await openCatalog({ databaseUrl: await freshPostgresDatabase() }), {
      QUIVER_UPLOADS_PER_TEAM: "32",
      QUIVER_UPLOADS_PER_SERVER: "32",
    }));
    url = quiver.api.url;
    token = await login(url);
  }, 120_000);
  afterAll(() => quiver?.close());

  const auth = () => ({ authorization: `Bearer ${token}` });

  async function expectConsistent() {
    await quiver.services.pool.idle();
    const prisma = quiver.services.catalog.prisma;
    const adapters = await prisma.adapter.findMany({ include: { versions: true } });
    const names = adapters.map((a) => a.name);
    expect(new Set(names).size).toBe(names.length);
    const expectedFiles: string[] = [];
    for (const a of adapters) {
      expect(a.versions.length).toBeGreaterThan(0);
      if (a.currentVersionId) expect(a.versions.map((v) => v.id)).toContain(a.currentVersionId);
      for (const v of a.versions) {
        const dir = new URL(v.storageUri).pathname;
        expect(existsSync(dir) ? readdirSync(dir).sort() : []).toEqual(["adapter_config.json", "adapter_model.safetensors"]);
        expectedFiles.push(path.join(a.id, v.id, "adapter_config.json"), path.join(a.id, v.id, "adapter_model.safetensors"));
      }
    }
    expect(filesUnder(path.join(dataDir, "adapters"))).toEqual(expectedFiles.sort());
    expect(filesUnder(path.join(dataDir, "staging"))).toEqual([]);
    expect(await prisma.adapterVersion.count({ where: { adapterId: { notIn: adapters.map((a) => a.id) } } })).toBe(0);
  }

  test("eight uploads of one name: one wins, seven conflict", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => upload(url, token, { name: "same-name", samples: SAMPLES }, files[i % 2]!)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    await expectConsistent();
  }, 120_000);

  test("deletes racing uploads of the same name", async () => {
    const id = (await quiver.services.catalog.prisma.adapter.findFirstOrThrow({ where: { name: "same-name" } })).id;
    const work = [
      ...Array.from({ length: 3 }, () =>
        gql(url, `mutation($id: ID!) { deleteAdapter(id: $id) }`, { id }, auth()).then((r) => (r.errors ? r.errors[0]!.extensions!.code! : "deleted")),
      ),
      ...Array.from({ length: 4 }, (_, i) => upload(url, token, { name: "same-name", samples: SAMPLES }, files[i % 2]!).then((r) => String(r.status))),
    ];
    const outcomes = await Promise.all(work);
    for (const o of outcomes) expect(["deleted", "NOT_FOUND", "201", "409"]).toContain(o);
    expect(outcomes.filter((o) => o === "deleted")).toHaveLength(1);
    await expectConsistent();
  }, 120_000);

  test("edits, new versions and deletes of many adapters at once", async () => {
    const created = await Promise.all(Array.from({ length: 6 }, (_, i) => upload(url, token, { name: `busy-${i}`, samples: SAMPLES }, files[i % 2]!)));
    expect(created.every((r) => r.status === 201)).toBe(true);
    await quiver.services.pool.idle();
    const ids = created.map((r) => r.body.adapter!.id);
    const ops = ids.flatMap((id, i) => [
      upload(url, token, {}, files[(i + 1) % 2]!, `/v1/adapters/${id}/versions`).then((r) => r.status),
      gql(
        url,
        `mutation($id: ID!, $s: [String!]!) { setAdapterSamples(id: $id, samples: $s) { id } }`,
        { id, s: SAMPLES.map((s) => `${s} (${i})`) },
        auth(),
      ).then((r) => (r.errors ? r.errors[0]!.extensions!.code : 200)),
      gql(url, `mutation($id: ID!) { disableAdapter(id: $id) { id } }`, { id }, auth()).then((r) => (r.errors ? r.errors[0]!.extensions!.code : 200)),
      ...(i % 2
        ? [gql(url, `mutation($id: ID!) { deleteAdapter(id: $id) }`, { id }, auth()).then((r) => (r.errors ? r.errors[0]!.extensions!.code : 200))]
        : []),
    ]);
    const outcomes = await Promise.all(ops);
    // Racing a delete, an edit may find the adapter gone; nothing else may fail.
    for (const o of outcomes) expect([200, 201, 404, "NOT_FOUND"]).toContain(o);
    await expectConsistent();
    const survivors = await quiver.services.catalog.prisma.adapter.findMany({ where: { name: { startsWith: "busy-" } } });
    expect(survivors.length).toBe(3);
  }, 120_000);
});
