// First start without QUIVER_ADMIN_PASSWORD: a password is generated, returned once for
// printing, and works; later starts on the same database create no second admin.
import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { freshPostgresDatabase, postgresSkipReason } from "../helpers/catalogs.js";
import { gql, startTestServer } from "../helpers/server.js";

test("a generated admin password is returned once and signs in", async () => {
  const quiver = await startTestServer(await openCatalog({}), { QUIVER_ADMIN_PASSWORD: "", QUIVER_ADMIN_EMAIL: "root@example.test" });
  try {
    const pw = quiver.bootstrap?.generatedPassword;
    expect(pw).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const r = await gql<{ login: { user: { email: string } } }>(
      quiver.api.url,
      `mutation($p: String!) { login(email: "root@example.test", password: $p) { user { email } } }`,
      { p: pw },
    );
    expect(r.data?.login.user.email).toBe("root@example.test");
  } finally {
    await quiver.close();
  }
}, 60_000);

test("restarting on a database that has users bootstraps nothing", async () => {
  const skip = postgresSkipReason();
  if (skip && process.env.QUIVER_REQUIRE_POSTGRES !== "1") {
    console.log(`Skipping: ${skip}`);
    return;
  }
  const url = await freshPostgresDatabase();
  const first = await startTestServer(await openCatalog({ databaseUrl: url }));
  expect(first.bootstrap).toBeDefined();
  await first.close();
  const second = await startTestServer(await openCatalog({ databaseUrl: url }), { QUIVER_ADMIN_EMAIL: "someone-else@example.test" });
  try {
    expect(second.bootstrap).toBeUndefined();
    expect(await second.services.catalog.prisma.user.count()).toBe(1);
    expect(await second.services.catalog.prisma.team.count()).toBe(1);
  } finally {
    await second.close();
  }
}, 60_000);
