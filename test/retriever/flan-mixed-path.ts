// Where the LoraRetriever benchmark data lives for tests: QUIVER_FLAN_MIXED_DIR, else the
// shared checkout beside the repository (../shared/datasets/flan-mixed). Tests that need it
// skip with a printed reason when it is absent.
import { existsSync } from "node:fs";
import path from "node:path";

const repoRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");

export function flanMixedDir(): string | undefined {
  const dir = process.env.QUIVER_FLAN_MIXED_DIR ?? path.resolve(repoRoot, "..", "shared", "datasets", "flan-mixed");
  if (existsSync(path.join(dir, "task_samples.json"))) return dir;
  console.log(`skipping flan-mixed tests: no data at ${dir} (set QUIVER_FLAN_MIXED_DIR)`);
  return undefined;
}
