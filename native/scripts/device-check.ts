// The engine's checks on a GPU machine, where jest cannot go: the device image has CUDA but
// no Node.js and no node_modules (docs/engine.md, "Checks on a GPU machine"). This file is
// bundled with its imports (the engine's TypeScript, the engine test files below and the
// `expect` package) into one script by device-pack.mjs, which also packs this machine's
// node binary; the addon (native/build/Release/quiver.node, built here with nvcc) travels
// beside it.
//
//   node device-check.mjs [--out DIR] [--bench-preset full|tiny|none] [--bench-device D] [--probe]
//                         [--test-timeout SECONDS]
//
// --probe adds one test that fails on purpose, one that hangs (cut off at its own timeout) and
// one that passes (the runner's own test checks that failures are counted).
// It runs the engine's test files with a small jest-compatible runner (describe, test,
// test.each, beforeAll, afterAll, describe.skip, and jest's own `expect`), then the engine
// benchmark, and writes DIR/device-check.json. It prints "N passed, N failed, N skipped".
// Each test and hook has a time limit, as under jest: its own (test's third argument), else
// --test-timeout (60 s, jest.config.js's testTimeout); one that hangs fails alone.
// Exit status: 0 when the verdict passes (device-verdict.ts): no test failed, the benchmark
// ran, and, where nvidia-smi sees a GPU, the CUDA suites ran (CUDA that does not start on a GPU
// machine fails the run instead of skipping every CUDA suite); 1 otherwise.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

import { expect } from "expect";

import { benchEngine, Engine, type BenchReport, type Device } from "../src/index.js";
import { gpuVisible, verdict, withTimeout, type SmiAnswer, type TestResult as Result } from "./device-verdict.js";

type Fn = () => unknown;
interface TestCase {
  name: string;
  fn: Fn;
  skip: boolean;
  /** its own limit in ms (jest's third argument) */
  timeout?: number;
}
interface Hook {
  fn: Fn;
  timeout?: number;
}
interface Suite {
  name: string;
  skip: boolean;
  tests: TestCase[];
  children: Suite[];
  beforeAll: Hook[];
  afterAll: Hook[];
}

const newSuite = (name: string, skip: boolean): Suite => ({ name, skip, tests: [], children: [], beforeAll: [], afterAll: [] });
let current: Suite = newSuite("", false);
// Why a file skips its CUDA suites, when it does.
let skipNote = "";
// A test's or hook's time limit when it names none (--test-timeout).
let defaultTimeoutMs = 60_000;

/** jest's printf-style test.each titles: %s, %d, %i, %p, %j take the row's values in turn. */
function title(template: string, row: unknown[]): string {
  let i = 0;
  return template.replace(/%[sdipj]/g, () => {
    const v = row[i++];
    return typeof v === "string" ? v : JSON.stringify(v);
  });
}

function defineTest(skip: boolean) {
  const t = (name: string, fn: Fn, timeout?: number) => void current.tests.push({ name, fn, skip: skip || current.skip, timeout });
  return Object.assign(t, { each: each(t) });
}

/** test.each / describe.each: one case per row, the row's values as arguments. */
function each(define: (name: string, fn: () => unknown, timeout?: number) => void) {
  return (rows: readonly unknown[]) => (name: string, fn: (...args: unknown[]) => unknown, timeout?: number) => {
    for (const r of rows) {
      const args = Array.isArray(r) ? [...r] : [r];
      define(title(name, args), () => fn(...args), timeout);
    }
  };
}

function defineDescribe(skip: boolean) {
  const d = (name: string, body: () => unknown) => {
    const parent = current;
    const s = newSuite(name, skip || parent.skip);
    parent.children.push(s);
    current = s;
    try {
      body();
    } finally {
      current = parent;
    }
  };
  return Object.assign(d, { each: each(d) });
}

const describe = Object.assign(defineDescribe(false), { skip: defineDescribe(true) });
const test = Object.assign(defineTest(false), { skip: defineTest(true) });
Object.assign(globalThis, {
  describe,
  test,
  it: test,
  expect,
  beforeAll: (fn: Fn, timeout?: number) => void current.beforeAll.push({ fn, timeout }),
  afterAll: (fn: Fn, timeout?: number) => void current.afterAll.push({ fn, timeout }),
});

// The engine's test files that run here. Left out: training (the CPU trainer's own checks),
// llama2c-tokenizer and stories260k (they read ../shared, which does not travel).
const TEST_FILES: Array<[string, () => Promise<unknown>]> = [
  ["device.test.ts", () => import("../test/device.test.js")],
  ["parity.test.ts", () => import("../test/parity.test.js")],
  ["adapter-slots.test.ts", () => import("../test/adapter-slots.test.js")],
  ["sampling.test.ts", () => import("../test/sampling.test.js")],
  ["model-formats.test.ts", () => import("../test/model-formats.test.js")],
  ["bad-input.test.ts", () => import("../test/bad-input.test.js")],
  ["bench.test.ts", () => import("../test/bench.test.js")],
  ["training-device.test.ts", () => import("../test/training-device.test.js")],
  ["faults.test.ts", () => import("../test/faults.test.js")],
  ["step-budget.test.ts", () => import("../test/step-budget.test.js")],
  ["adapter-patterns.test.ts", () => import("../test/adapter-patterns.test.js")],
];
// Tests that run the quiver CLI, which needs node_modules (tsx): they cannot run there.
const NEEDS_CLI = new Set([
  "convert llama2c rejects a truncated checkpoint with a code",
  "bench engine --json ends with one JSON object holding per-mode rows and the ratios",
]);

function message(e: unknown): string {
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

async function runSuite(s: Suite, prefix: string, results: Result[]): Promise<void> {
  const name = prefix ? `${prefix} > ${s.name}` : s.name;
  const all = (x: Suite): TestCase[] => [...x.tests, ...x.children.flatMap(all)];
  const record = (r: Result) => {
    results.push(r);
    const mark = r.status === "passed" ? "ok  " : r.status === "failed" ? "FAIL" : "skip";
    console.log(`${mark} ${r.name} (${r.ms.toFixed(0)} ms)${r.reason ? `: ${r.reason}` : ""}${r.error ? `\n${r.error}` : ""}`);
  };
  const live = all(s).some((t) => !t.skip && !NEEDS_CLI.has(t.name));
  let setupError: unknown;
  if (live)
    for (const h of s.beforeAll)
      try {
        await withTimeout(h.fn, h.timeout ?? defaultTimeoutMs, `${name} > beforeAll`);
      } catch (e) {
        setupError = e;
        break;
      }
  for (const t of s.tests) {
    const full = `${name} > ${t.name}`;
    if (t.skip) record({ name: full, status: "skipped", ms: 0, reason: `skipped by its file${skipNote}` });
    else if (NEEDS_CLI.has(t.name)) record({ name: full, status: "skipped", ms: 0, reason: "runs the quiver CLI, which needs node_modules" });
    else if (setupError) record({ name: full, status: "failed", ms: 0, error: `beforeAll failed: ${message(setupError)}` });
    else {
      const t0 = performance.now();
      try {
        await withTimeout(t.fn, t.timeout ?? defaultTimeoutMs, full);
        record({ name: full, status: "passed", ms: performance.now() - t0 });
      } catch (e) {
        record({ name: full, status: "failed", ms: performance.now() - t0, error: message(e) });
      }
    }
  }
  for (const c of s.children) await runSuite(c, name, results);
  if (live)
    for (const h of s.afterAll)
      try {
        await withTimeout(h.fn, h.timeout ?? defaultTimeoutMs, `${name} > afterAll`);
      } catch (e) {
        record({ name: `${name} > afterAll`, status: "failed", ms: 0, error: message(e) });
      }
}

function nvidiaSmi(): SmiAnswer {
  try {
    const output = execFileSync("nvidia-smi", ["--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"], {
      encoding: "utf8",
      timeout: 20_000,
    }).trim();
    return { ok: true, output };
  } catch (e) {
    return { ok: false, output: `nvidia-smi: ${(e as Error).message.split("\n")[0]}` };
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      out: { type: "string" },
      "bench-preset": { type: "string" },
      "bench-device": { type: "string" },
      probe: { type: "boolean" },
      "test-timeout": { type: "string" },
    },
    strict: true,
  });
  if (values["test-timeout"] !== undefined) {
    const seconds = Number(values["test-timeout"]);
    if (!(seconds > 0)) throw new Error(`--test-timeout takes seconds > 0, not ${values["test-timeout"]}`);
    defaultTimeoutMs = seconds * 1000;
  }
  const out = values.out ?? process.env.OUT ?? path.join(process.cwd(), "device-check-out");
  mkdirSync(out, { recursive: true });
  const cuda = Engine.cudaStatus();
  const smi = nvidiaSmi();
  const gpu = smi.output;
  if (!cuda.available) skipNote = ` (CUDA: ${cuda.reason})`;
  console.log(`node ${process.version}; engine CUDA: compiled ${cuda.compiled}, available ${cuda.available} (${cuda.reason || "ok"}); ${gpu}`);

  const results: Result[] = [];
  const t0 = performance.now();
  const probe: Array<[string, () => Promise<unknown>]> = [
    [
      "probe",
      async () =>
        describe("runner probe", () => {
          test("fails on purpose", () => expect(1 + 1).toBe(3));
          test("hangs on purpose", () => new Promise(() => {}), 500);
          test("passes", () => expect([1, 2]).toEqual([1, 2]));
        }),
    ],
  ];
  for (const [file, load] of [...(values.probe ? probe : []), ...TEST_FILES]) {
    current = newSuite(file, false);
    try {
      await load();
    } catch (e) {
      results.push({ name: file, status: "failed", ms: 0, error: `loading the file failed: ${message(e)}` });
      console.log(`FAIL ${file}: ${message(e)}`);
      continue;
    }
    await runSuite(current, "", results);
  }
  const count = (s: Result["status"]) => results.filter((r) => r.status === s).length;
  const summary = { passed: count("passed"), failed: count("failed"), skipped: count("skipped"), seconds: (performance.now() - t0) / 1000 };
  console.log(`tests: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped in ${summary.seconds.toFixed(1)} s`);
  const report: {
    node: string;
    cuda: typeof cuda;
    gpu: string;
    tests: typeof summary & { results: Result[] };
    bench?: BenchReport;
    benchError?: string;
    verdict?: ReturnType<typeof verdict>;
  } = {
    node: process.version,
    cuda,
    gpu,
    tests: { ...summary, results },
  };
  const judge = () => (report.verdict = verdict({ gpuVisible: gpuVisible(smi), cuda, results, benchError: report.benchError }));
  judge();
  const write = () => writeFileSync(path.join(out, "device-check.json"), JSON.stringify(report, null, 1) + "\n");
  write(); // the tests' results (and their verdict) stay even if the benchmark is cut short

  const preset = values["bench-preset"] ?? "full";
  if (preset !== "none") {
    const device = (values["bench-device"] ?? (cuda.available ? "cuda" : "cpu")) as Device;
    console.log(`bench engine: preset ${preset} on ${device}`);
    try {
      report.bench = await benchEngine({ preset, device, log: (line) => console.log(`bench: ${line}`) });
      for (const r of report.bench.rows)
        console.log(
          `${r.mode.padEnd(11)}${String(r.batch).padStart(4)}${r.tokensPerSecond.toFixed(1).padStart(11)} tokens/s${r.stepMs.toFixed(2).padStart(9)} ms/step`,
        );
      console.log(`ratios ${JSON.stringify(report.bench.ratios)}`);
    } catch (e) {
      report.benchError = message(e);
      console.log(`bench failed: ${report.benchError}`);
    }
    judge();
    write();
  }
  const v = report.verdict!;
  console.log(v.ok ? "verdict: pass" : `verdict: FAIL: ${v.problems.join("; ")}`);
  console.log(`${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  return v.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(message(e));
    process.exit(2);
  },
);
