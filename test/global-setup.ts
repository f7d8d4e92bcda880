// Starts the private PostgreSQL server (with pgvector) that the PostgreSQL half of the suite
// runs against, and publishes its URL to the test workers through the environment. Where it
// cannot start (no server or pgvector installed), PostgreSQL tests skip and print why, unless
// QUIVER_REQUIRE_POSTGRES=1 (CI), where they fail.
import { spawnSync } from "node:child_process";
import path from "node:path";

export default async function globalSetup(): Promise<void> {
  const root = path.resolve(import.meta.dirname, "..");
  const dir = path.join(root, ".tmp", `postgres-jest-${process.pid}`);
  const r = spawnSync("bash", [path.join(root, "scripts", "postgres.sh"), "start", dir], { encoding: "utf8" });
  const url = /DATABASE_URL=(\S+)/.exec(r.stdout ?? "")?.[1];
  if (r.status === 0 && url) {
    process.env.QUIVER_TEST_DATABASE_URL = url;
    process.env.QUIVER_TEST_POSTGRES_DIR = dir;
  } else {
    process.env.QUIVER_TEST_POSTGRES_SKIP = (r.stderr || r.stdout || "scripts/postgres.sh failed").trim();
  }
}
