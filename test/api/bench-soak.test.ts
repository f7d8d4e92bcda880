// `quiver bench soak` end to end, kept to seconds (stories260K, 8 streams, 6 s of load): the
// JSON report's fields, every check passing on a correct server, and a clean SIGTERM (the
// server runs without jest's NODE_ENV=test, as in production: Apollo's own signal handler
// once made it exit 1 at once). The checks themselves are tested with wrong inputs in
// apps/api/src/cli/bench/soak-checks.test.ts.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

import { repoRoot } from "../helpers/browser.js";
import { storiesSkipReason } from "../helpers/stories.js";

const run = promisify(execFile);
const quiver = path.join(repoRoot, "apps", "api", "bin", "quiver.js");
const skip = storiesSkipReason();
if (skip) console.log(`Skipping the bench soak test: ${skip}`);

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: "" };
  delete e.NODE_ENV;
  for (const k of Object.keys(e)) if (k.startsWith("QUIVER_") || k === "DATABASE_URL") delete e[k];
  return e;
}

(skip ? test.skip : test)(
  "bench soak --minutes 0.1 --streams 8 reports every figure and passes its checks",
  async () => {
    const { stdout } = await run(
      process.execPath,
      [quiver, "bench", "soak", "--model", "stories260K", "--minutes", "0.1", "--streams", "8", "--adapter-every", "1", "--json"],
      { cwd: repoRoot, env: env(), maxBuffer: 16 << 20 },
    );
    const lines = stdout.trim().split("\n");
    const report = JSON.parse(lines.at(-1)!);
    expect(lines).toContain("ok");
    expect(report).toMatchObject({ streams: 8, minutes: 0.1, templates: 24, ok: true, serverExit: 0, errors: {} });
    const { counts, exact, cutPrefix, usage, adapters, rss } = report;
    expect(counts.completed).toBeGreaterThan(0);
    expect(counts.cancelled + counts.disconnected).toBeGreaterThan(0);
    expect(counts.errors).toBe(0);
    expect(counts.completed + counts.cancelled + counts.disconnected).toBe(report.requests);
    expect(report.requestsPerS).toBeGreaterThan(0);
    expect(exact).toMatchObject({ checked: counts.completed, mismatches: 0 });
    expect(cutPrefix).toMatchObject({ checked: counts.cancelled + counts.disconnected, mismatches: 0 });
    expect(usage).toMatchObject({
      completedChecked: counts.completed,
      completedMismatches: 0,
      cutChecked: counts.cancelled + counts.disconnected,
      missingRecords: 0,
    });
    expect(usage.cutWithinBounds).toBe(usage.cutChecked);
    expect(usage.completedBilledTokens).toBe(usage.completedDeliveredTokens);
    expect(usage.completedRecordTokens).toBe(usage.completedDeliveredTokens);
    expect(adapters.uploaded).toBeGreaterThan(4);
    expect(adapters.deleted).toBeGreaterThan(0);
    expect(rss.series.length).toBeGreaterThanOrEqual(5);
    expect(typeof rss.slopeMiBPerMin).toBe("number");
    expect(report.records.QUEUED ?? 0).toBe(0);
  },
  120_000,
);

test("bench soak refuses bad options", async () => {
  const err = await run(process.execPath, [quiver, "bench", "soak", "--streams", "0"], { cwd: repoRoot, env: env() }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  expect(err?.code).toBe(2);
  expect(err?.stderr).toContain("--streams an integer in 1..2048");
});
