import { spawnSync } from "node:child_process";
import path from "node:path";

export default async function globalTeardown(): Promise<void> {
  const dir = process.env.QUIVER_TEST_POSTGRES_DIR;
  if (!dir) return;
  spawnSync("bash", [path.resolve(import.meta.dirname, "..", "scripts", "postgres.sh"), "stop", dir], { stdio: "inherit" });
}
