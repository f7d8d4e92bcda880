// Adapter versions a stopped process left PENDING do not stay PENDING (holding their names)
// forever: at the next start, one the server can finish is embedded again and activated, one
// it cannot (another base model) is FAILED with the reason. The crash is simulated on the
// database between two runs of `quiver serve` (a child process): two uploaded adapters are
// put back in the state a process leaves when it dies between registering a version and
// storing its embedding (PENDING, no current version, no embedding), on the embedded PGlite
// data directory and on PostgreSQL. Without the recovery both stay PENDING.
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import { killServer, spawnServer, type ChildServer } from "../helpers/child-server.js";
import { adapterFiles, SAMPLES, tempDir, upload, writeAdapter, writeModel } from "../helpers/pool.js";
import { gql, login } from "../helpers/server.js";
import { waitUntil } from "../helpers/wait.js";

const pgSkip = postgresSkipReason();
const kinds: { kind: "pglite" | "postgres" }[] = [{ kind: "pglite" }];
if (!pgSkip || process.env.QUIVER_REQUIRE_POSTGRES === "1") kinds.push({ kind: "postgres" });
else console.log(`Skipping the PostgreSQL half of the PENDING recovery test: ${pgSkip}`);

describe.each(kinds)("adapter versions left PENDING ($kind)", ({ kind }) => {
  let server: ChildServer | undefined;
  afterAll(async () => {
    await killServer(server);
  });

  test("are embedded again and activated at the next start, or FAILED with the reason", async () => {
    const databaseUrl = kind === "postgres" ? await freshPostgresDatabase() : undefined;
    const dataDir = tempDir("pending-data");
    const env = { QUIVER_MODEL: writeModel(), QUIVER_DATA_DIR: dataDir, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) };
    server = await spawnServer(env);
    let token = await login(server.url);
    const ids: string[] = [];
    for (const [i, name] of ["resumable", "unservable"].entries()) {
      const r = await upload(server.url, token, { name, samples: SAMPLES }, adapterFiles(writeAdapter({ seed: i + 1 })));
      expect(r.status).toBe(201);
      ids.push(r.body.adapter!.id);
    }
    const status = async (id: string) =>
      (
        await gql<{ adapter: { status: string; statusReason: string | null; version: number | null } }>(
          server!.url,
          `query($id: ID!) { adapter(id: $id) { status statusReason version } }`,
          { id },
          { authorization: `Bearer ${token}` },
        )
      ).data?.adapter;
    await waitUntil("both adapters ACTIVE", async () => (await status(ids[0]!))?.status === "ACTIVE" && (await status(ids[1]!))?.status === "ACTIVE", 30_000);
    server.proc.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);

    // The state a process leaves when it dies before the embedding is stored.
    const catalog = await openCatalog(databaseUrl ? { databaseUrl } : { dataDir: `${dataDir}/db` });
    try {
      const p = catalog.prisma;
      for (const id of ids) {
        await p.adapter.update({ where: { id }, data: { status: "PENDING", currentVersionId: null } });
        await p.adapterVersion.updateMany({ where: { adapterId: id }, data: { status: "PENDING" } });
        await p.$executeRaw`DELETE FROM "AdapterEmbedding" WHERE "adapterId" = ${id}::uuid`;
      }
      // The second is for a base model this server does not serve, registered two hours ago.
      const { id: _id, name: _name, ...model } = await p.baseModel.findFirstOrThrow();
      const other = await p.baseModel.create({ data: { ...model, config: model.config as object, name: "another-model" }, select: { id: true } });
      await p.adapter.update({ where: { id: ids[1]! }, data: { baseModelId: other.id } });
      await p.$executeRaw`UPDATE "AdapterVersion" SET "createdAt" = "createdAt" - interval '2 hours' WHERE "adapterId" = ${ids[1]!}::uuid`;
    } finally {
      await catalog.close();
    }

    server = await spawnServer(env);
    expect(server.log.join("\n")).toMatch(/\[recovery\] adapter versions left PENDING: 1 being embedded again, 1 FAILED/);
    token = await login(server.url);
    // ACTIVE with its version served again: the version is activated only once its embedding is stored.
    await waitUntil("the resumable adapter ACTIVE again", async () => (await status(ids[0]!))?.status === "ACTIVE", 30_000);
    expect(await status(ids[0]!)).toMatchObject({ status: "ACTIVE", version: 1 });
    expect(await status(ids[1]!)).toMatchObject({
      status: "FAILED",
      version: null,
      statusReason: expect.stringMatching(/^INTERRUPTED: the server stopped before this version was ready/),
    });
    server.proc.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  }, 120_000);
});
