// `quiver bench load` end to end on stories260K, kept small: with --rounds the engine and API
// phases alternate, every round's streams are checked, and the JSON holds each round's ratio;
// bad options exit 2 with a message.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

import { repoRoot } from "../helpers/browser.js";
import { storiesSkipReason } from "../helpers/stories.js";

const run = promisify(execFile);
const quiver = path.join(repoRoot, "apps", "api", "bin", "quiver.js");
const skip = storiesSkipReason();
if (skip) console.log(`Skipping the bench load test: ${skip}`);

interface Report {
  phases: {
    concurrency: number;
    requests: number;
    mismatches: number;
    ratio: number;
    rounds: number;
    roundRatios: number[];
    engineTokensPerS: number;
    apiTokensPerS: number;
  }[];
}

(skip ? test.skip : test)(
  "bench load --rounds 2 alternates the phases and checks every round's streams",
  async () => {
    const { stdout } = await run(process.execPath, [quiver, "bench", "load", "--concurrency", "3,5", "--tokens", "4", "--rounds", "2", "--json"], {
      cwd: repoRoot,
      env: { ...process.env, NODE_OPTIONS: "" },
    });
    const lines = stdout.trim().split("\n");
    expect(lines).toContain("each figure is the fastest of 2 alternating rounds; API/engine round by round:");
    const report = JSON.parse(lines.at(-1)!) as Report;
    expect(report.phases.map((p) => p.concurrency)).toEqual([3, 5]);
    for (const p of report.phases) {
      expect(p).toMatchObject({ requests: p.concurrency, mismatches: 0, rounds: 2 });
      expect(p.roundRatios).toHaveLength(2);
      for (const r of p.roundRatios) expect(r).toBeGreaterThan(0);
      expect(p.engineTokensPerS).toBeGreaterThan(0);
      expect(p.apiTokensPerS).toBeGreaterThan(0);
    }
  },
  120_000,
);

test("bench load refuses --rounds outside 1..10", async () => {
  const err = await run(process.execPath, [quiver, "bench", "load", "--rounds", "0"], { cwd: repoRoot, env: { ...process.env, NODE_OPTIONS: "" } }).then(
    () => undefined,
    (e: { code: number; stderr: string }) => e,
  );
  expect(err?.code).toBe(2);
  expect(err?.stderr).toContain("--rounds 1..10");
});
