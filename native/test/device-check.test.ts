// The GPU machine's test runner (scripts/device-check.ts, bundled by scripts/device-pack.mjs;
// docs/engine.md, "Checks on a GPU machine"): outside jest, it runs the engine's test files
// with the same outcome as jest, counts a failing test as failed, and skips the CUDA suites
// with the reason where no GPU answers.
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { CUDA_AVAILABLE } from "./backends.js";
import { REPO_ROOT, tempDir } from "./cli.js";

const run = promisify(execFile);
const dirName = `.device-pack-test-${process.pid}`;
const pack = path.join(REPO_ROOT, "native", dirName);

interface Report {
  tests: { passed: number; failed: number; skipped: number; results: Array<{ name: string; status: string; reason?: string }> };
}

afterAll(() => rmSync(pack, { recursive: true, force: true }));

test("the packed runner runs the engine's tests and counts failures", async () => {
  await run(process.execPath, [path.join(REPO_ROOT, "native", "scripts", "device-pack.mjs"), "--dir", dirName, "--no-node", "--allow-cpu-only"], {
    cwd: REPO_ROOT,
  });
  const out = tempDir("device-check");
  const failed = await run(process.execPath, [path.join(pack, "device-check.mjs"), "--out", out, "--bench-preset", "none", "--probe"], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: "" },
  }).then(
    () => undefined,
    (e: { code: number; stdout: string }) => e,
  );
  // The probe's failing test makes the run fail, and only that test fails.
  expect(failed?.code).toBe(1);
  expect(failed?.stdout).toMatch(/\n\d+ passed, 1 failed, \d+ skipped\n?$/);
  const report = JSON.parse(readFileSync(path.join(out, "device-check.json"), "utf8")) as Report;
  const byName = new Map(report.tests.results.map((r) => [r.name, r]));
  expect(report.tests.failed).toBe(1);
  expect(byName.get("probe > runner probe > fails on purpose")?.status).toBe("failed");
  expect(byName.get("probe > runner probe > passes")?.status).toBe("passed");
  expect(report.tests.passed).toBeGreaterThan(80);
  for (const device of ["cpu-reference", "cpu"])
    expect(byName.get(`parity.test.ts > parity with the reference on ${device} > mixture with zipf adapters`)?.status).toBe("passed");
  const trainer = "training-device.test.ts > training on cuda-emulated > LoRA mode: rsLoRA on a subset of projections, at a mixture weight; the base has no gradients";
  expect(byName.get(trainer)?.status).toBe("passed");
  const cuda = byName.get("parity.test.ts > parity with the reference on cuda > mixture with zipf adapters");
  if (CUDA_AVAILABLE) expect(cuda?.status).toBe("passed");
  else {
    expect(cuda?.status).toBe("skipped");
    expect(cuda?.reason).toMatch(/CUDA: /);
  }
}, 180_000);
