#!/usr/bin/env node
// Runs the whole jest suite and prints the closing line CI reads: "N passed, N failed"
// (with ", N skipped" when tests were skipped). Extra arguments go to jest.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const out = path.join(root, ".tmp", "jest-results.json");
mkdirSync(path.dirname(out), { recursive: true });
rmSync(out, { force: true });

const jest = path.join(root, "node_modules", "jest", "bin", "jest.js");
const env = {
  ...process.env,
  NODE_OPTIONS: [process.env.NODE_OPTIONS, "--experimental-vm-modules", "--no-warnings=ExperimentalWarning"].filter(Boolean).join(" "),
  NEXT_TELEMETRY_DISABLED: "1",
  CHECKPOINT_DISABLE: "1",
};
const run = spawnSync(process.execPath, [jest, "--json", `--outputFile=${out}`, ...process.argv.slice(2)], {
  cwd: root,
  env,
  stdio: "inherit",
});

if (!existsSync(out)) {
  console.log("0 passed, 1 failed");
  process.exit(run.status || 1);
}
const r = JSON.parse(readFileSync(out, "utf8"));
// A suite that fails to load (syntax error, failing beforeAll) has no test results: count it.
const brokenSuites = r.numRuntimeErrorTestSuites ?? 0;
const failed = r.numFailedTests + brokenSuites;
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
process.exit(failed > 0 || run.status !== 0 ? 1 : 0);
