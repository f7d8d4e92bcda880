// The decisions of the GPU machine's check (device-check.ts), apart from its runner so that
// device-check.test.ts tests them on the CPU: whether nvidia-smi sees a GPU, which tests are
// the CUDA suites', whether the run passes, and a bound on each test's time.

export interface TestResult {
  name: string;
  status: "passed" | "failed" | "skipped";
  ms: number;
  error?: string;
  reason?: string;
}

/** What `nvidia-smi --query-gpu=... --format=csv,noheader` gave: whether it ran, and its output. */
export interface SmiAnswer {
  ok: boolean;
  output: string;
}

/** nvidia-smi sees a GPU: it ran and printed at least one line (one line per GPU). */
export function gpuVisible(smi: SmiAnswer): boolean {
  return smi.ok && smi.output.split("\n").some((line) => line.trim().length > 0);
}

/** A test of a CUDA suite: its name says "on cuda" (not "on cuda-emulated"), as describeOn("cuda") names them. */
export function isCudaTest(name: string): boolean {
  return /\bon cuda(?![-\w])/.test(name);
}

export interface VerdictInput {
  gpuVisible: boolean;
  cuda: { available: boolean; reason: string };
  results: TestResult[];
  benchError?: string;
}

/**
 * Whether the run passes, and why not. It fails when a test failed, when the benchmark failed,
 * and when a GPU is visible to nvidia-smi but no CUDA test ran (CUDA did not start, so every
 * CUDA suite skipped: on a GPU machine that is a failure, not a pass with skips). Without a
 * visible GPU, skipped CUDA suites are expected.
 */
export function verdict(v: VerdictInput): { ok: boolean; problems: string[] } {
  const problems: string[] = [];
  const failed = v.results.filter((r) => r.status === "failed").length;
  if (failed > 0) problems.push(`${failed} test${failed === 1 ? "" : "s"} failed`);
  if (v.benchError) problems.push(`the benchmark failed: ${v.benchError.split("\n")[0]}`);
  if (v.gpuVisible) {
    const cuda = v.results.filter((r) => isCudaTest(r.name));
    const ran = cuda.filter((r) => r.status !== "skipped").length;
    if (!v.cuda.available)
      problems.push(`nvidia-smi sees a GPU but CUDA did not start (${v.cuda.reason || "no reason given"}); the ${cuda.length} CUDA tests skipped`);
    else if (ran === 0) problems.push(`nvidia-smi sees a GPU and CUDA started, but none of the ${cuda.length} CUDA tests ran`);
  }
  return { ok: problems.length === 0, problems };
}

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${(ms / 1000).toFixed(1)} s`);
    this.name = "TimeoutError";
  }
}

/**
 * Runs `fn` and settles with it, or rejects with a TimeoutError after `ms`, whichever comes
 * first. A test that hangs then fails alone and the run goes on (what it left running is
 * abandoned; the process exits when the run ends).
 */
export async function withTimeout(fn: () => unknown, ms: number, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  try {
    await Promise.race([Promise.resolve().then(fn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
