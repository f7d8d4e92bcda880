// The database kinds a catalog test runs against: embedded PGlite always, and the private
// PostgreSQL server that test/global-setup.ts started, when it could. Each `open()` gives a
// fresh, migrated database.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openCatalog, type Catalog, type DatabaseKind } from "../../apps/api/src/catalog/database.js";

export interface CatalogKind {
  kind: DatabaseKind;
  open(): Promise<Catalog>;
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresSkipReason(): string | undefined {
  if (process.env.QUIVER_TEST_DATABASE_URL) return undefined;
  return process.env.QUIVER_TEST_POSTGRES_SKIP ?? "the PostgreSQL test server was not started";
}

let warned = false;

/** Creates an empty database on the test server and returns its URL. */
export async function freshPostgresDatabase(): Promise<string> {
  const admin = process.env.QUIVER_TEST_DATABASE_URL;
  if (!admin) throw new Error(`no PostgreSQL test server: ${postgresSkipReason()}`);
  const name = `quiver_test_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

export function catalogKinds(): CatalogKind[] {
  const kinds: CatalogKind[] = [{ kind: "pglite", open: () => openCatalog({}) }];
  const skip = postgresSkipReason();
  if (!skip) {
    kinds.push({ kind: "postgres", open: async () => openCatalog({ databaseUrl: await freshPostgresDatabase() }) });
  } else if (process.env.QUIVER_REQUIRE_POSTGRES === "1") {
    kinds.push({
      kind: "postgres",
      open: () => Promise.reject(new Error(`PostgreSQL is required here (QUIVER_REQUIRE_POSTGRES=1) but unavailable: ${skip}`)),
    });
  } else if (!warned) {
    warned = true;
    console.log(`Skipping the PostgreSQL half of the catalog tests: ${skip}`);
  }
  return kinds;
}
