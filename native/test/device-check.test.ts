// The GPU machine's test runner (scripts/device-check.ts, bundled by scripts/device-pack.mjs;
// docs/engine.md, "Checks on a GPU machine"): outside jest, it runs the engine's test files
// with the same outcome as jest, counts a failing test as failed, and skips the CUDA suites
// with the reason where no GPU answers; a hanging test fails alone (its time is bounded); and
// where nvidia-smi sees a GPU but CUDA does not start, the run fails instead of passing with
// every CUDA suite skipped (scripts/device-verdict.ts).
import { execFile } from "node:child_process";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

import { gpuVisible, isCudaTest, TimeoutError, verdict, withTimeout, type TestResult } from "../scripts/device-verdict.js";
import { CUDA_AVAILABLE } from "./backends.js";
import { REPO_ROOT, tempDir } from "./cli.js";

const run = promisify(execFile);
const dirName = `.device-pack-test-${process.pid}`;
const pack = path.join(REPO_ROOT, "native", dirName);

interface Report {
  tests: { passed: number; failed: number; skipped: number; results: Array<{ name: string; status: string; reason?: string; error?: string }> };
}

afterAll(() => rmSync(pack, { recursive: true, force: true }));

let packed: Promise<unknown> | undefined;
/** Bundles the runner once for the tests below. */
const packOnce = () =>
  (packed ??= run(process.execPath, [path.join(REPO_ROOT, "native", "scripts", "device-pack.mjs"), "--dir", dirName, "--no-node", "--allow-cpu-only"], {
    cwd: REPO_ROOT,
  }));

describe("the run's verdict", () => {
  const result = (name: string, status: TestResult["status"]): TestResult => ({ name, status, ms: 1 });
  const cudaSkipped = [
    result("parity.test.ts > parity with the reference on cuda > mixture with zipf adapters", "skipped"),
    result("sampling.test.ts > sampling on cuda > greedy picks the argmax of the step's logits", "skipped"),
    result("parity.test.ts > parity with the reference on cuda-emulated > mixture with zipf adapters", "passed"),
  ];
  const noCuda = { available: false, reason: "no GPU: cudaGetDeviceCount returned 35" };

  test("nvidia-smi sees a GPU when it runs and prints a line", () => {
    expect(gpuVisible({ ok: true, output: "NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB, 1980 MHz" })).toBe(true);
    expect(gpuVisible({ ok: true, output: "\n" })).toBe(false);
    expect(gpuVisible({ ok: false, output: "nvidia-smi: spawnSync nvidia-smi ENOENT" })).toBe(false);
  });

  test("the CUDA suites' tests are told apart from cuda-emulated's", () => {
    expect(cudaSkipped.map((r) => isCudaTest(r.name))).toEqual([true, true, false]);
    expect(isCudaTest("parity.test.ts > parity with the reference on cuda (cuBLAS) > base model")).toBe(true);
    expect(isCudaTest("training-device.test.ts > training on cuda > bad batches")).toBe(true);
  });

  test("a GPU that nvidia-smi sees while every CUDA suite skips fails the run; without one the skips pass", () => {
    const gpuNoCuda = verdict({ gpuVisible: true, cuda: noCuda, results: cudaSkipped });
    expect(gpuNoCuda.ok).toBe(false);
    expect(gpuNoCuda.problems.join("; ")).toMatch(
      /nvidia-smi sees a GPU but CUDA did not start \(no GPU: cudaGetDeviceCount returned 35\); the 2 CUDA tests skipped/,
    );
    expect(verdict({ gpuVisible: true, cuda: { available: true, reason: "" }, results: cudaSkipped }).ok).toBe(false);
    expect(verdict({ gpuVisible: false, cuda: noCuda, results: cudaSkipped })).toEqual({ ok: true, problems: [] });
    const ran = cudaSkipped.map((r) => ({ ...r, status: "passed" as const }));
    expect(verdict({ gpuVisible: true, cuda: { available: true, reason: "" }, results: ran })).toEqual({ ok: true, problems: [] });
  });

  test("a failed test or benchmark fails the run", () => {
    expect(verdict({ gpuVisible: false, cuda: noCuda, results: [...cudaSkipped, result("x", "failed")] }).problems).toEqual(["1 test failed"]);
    expect(verdict({ gpuVisible: false, cuda: noCuda, results: cudaSkipped, benchError: "Error: boom\n at x" }).problems).toEqual([
      "the benchmark failed: Error: boom",
    ]);
  });

  test("a test that hangs is cut off at its timeout; one that settles in time keeps its outcome", async () => {
    const hang = withTimeout(() => new Promise(() => {}), 50, "hangs");
    await expect(hang).rejects.toBeInstanceOf(TimeoutError);
    await expect(hang).rejects.toThrow("hangs timed out after 0.1 s");
    await expect(withTimeout(() => 1, 50, "sync")).resolves.toBeUndefined();
    await expect(
      withTimeout(
        () => {
          throw new Error("boom");
        },
        50,
        "throws",
      ),
    ).rejects.toThrow("boom");
    await expect(withTimeout(async () => Promise.reject(new Error("late")), 50, "rejects")).rejects.toThrow("late");
  });
});

test("where nvidia-smi sees a GPU but CUDA does not start, the packed run fails and says why", async () => {
  if (CUDA_AVAILABLE) return; // a machine where CUDA starts cannot show this
  await packOnce();
  const bin = tempDir("fake-smi");
  const smi = path.join(bin, "nvidia-smi");
  writeFileSync(smi, "#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB, 1980 MHz'\n");
  chmodSync(smi, 0o755);
  const out = tempDir("device-check-gpu");
  const failed = await run(process.execPath, [path.join(pack, "device-check.mjs"), "--out", out, "--bench-preset", "none"], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: "", PATH: `${bin}:${process.env.PATH}` },
  }).then(
    () => undefined,
    (e: { code: number; stdout: string }) => e,
  );
  expect(failed?.code).toBe(1);
  expect(failed?.stdout).toMatch(/nvidia-smi sees a GPU but CUDA did not start \(.+\); the \d+ CUDA tests skipped/);
  const report = JSON.parse(readFileSync(path.join(out, "device-check.json"), "utf8")) as { verdict: { ok: boolean; problems: string[] } };
  expect(report.verdict.ok).toBe(false);
}, 120_000);

test("the packed runner runs the engine's tests and counts failures", async () => {
  await packOnce();
  const out = tempDir("device-check");
  const failed = await run(process.execPath, [path.join(pack, "device-check.mjs"), "--out", out, "--bench-preset", "none", "--probe"], {
    cwd: REPO_ROOT,
    env: { ...process.env, NODE_OPTIONS: "" },
  }).then(
    () => undefined,
    (e: { code: number; stdout: string }) => e,
  );
  // The probe's failing test and its hanging one (cut off at its own timeout) make the run
  // fail, and only those two fail.
  expect(failed?.code).toBe(1);
  expect(failed?.stdout).toMatch(/\n\d+ passed, 2 failed, \d+ skipped\n?$/);
  const report = JSON.parse(readFileSync(path.join(out, "device-check.json"), "utf8")) as Report;
  const byName = new Map(report.tests.results.map((r) => [r.name, r]));
  expect(report.tests.failed).toBe(2);
  expect(byName.get("probe > runner probe > fails on purpose")?.status).toBe("failed");
  expect(byName.get("probe > runner probe > hangs on purpose")?.status).toBe("failed");
  expect(byName.get("probe > runner probe > hangs on purpose")?.error).toMatch(/timed out after 0\.5 s/);
  expect(byName.get("probe > runner probe > passes")?.status).toBe("passed");
  expect(report.tests.passed).toBeGreaterThan(80);
  for (const device of ["cpu-reference", "cpu"])
    expect(byName.get(`parity.test.ts > parity with the reference on ${device} > mixture with zipf adapters`)?.status).toBe("passed");
  const trainer =
    "training-device.test.ts > training on cuda-emulated > LoRA mode: rsLoRA on a subset of projections, at a mixture weight; the base has no gradients";
  expect(byName.get(trainer)?.status).toBe("passed");
  const cuda = byName.get("parity.test.ts > parity with the reference on cuda > mixture with zipf adapters");
  if (CUDA_AVAILABLE) expect(cuda?.status).toBe("passed");
  else {
    expect(cuda?.status).toBe("skipped");
    expect(cuda?.reason).toMatch(/CUDA: /);
  }
}, 180_000);
