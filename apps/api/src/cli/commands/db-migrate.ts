// `quiver db migrate`: applies pending migrations to the configured database. `quiver serve`
// does this at every start; this command is for deploy pipelines and checks.
import { loadConfig } from "../../config.js";
import { openCatalog } from "../../catalog/database.js";
import path from "node:path";

export async function run(_argv: string[]): Promise<number> {
  const config = loadConfig();
  const catalog = await openCatalog(config.DATABASE_URL ? { databaseUrl: config.DATABASE_URL } : { dataDir: path.join(config.dataDir, "db") });
  const applied = catalog.appliedMigrations;
  console.log(applied.length ? `Applied ${applied.length} migration(s): ${applied.join(", ")}` : "The database is up to date.");
  await catalog.close();
  return 0;
}
