// `quiver bench engine --json` on the tiny preset: the report's shape (the full preset is
// for docs/benchmarks.md, not CI).
import { runCli, tempDir } from "./cli.js";

test("bench engine --json ends with one JSON object holding per-mode rows and the ratios", async () => {
  const r = await runCli(["bench", "engine", "--preset", "tiny", "--json", "--device", "cpu", "--data", tempDir("bench")]);
  expect(r.code).toBe(0);
  const lines = r.stdout.trimEnd().split("\n");
  const report = JSON.parse(lines[lines.length - 1]!);
  expect(Object.keys(report.ratios).sort()).toEqual(["baseBandwidthFraction", "gatherVsDense", "mixtureVsBase", "mixtureVsSequential"]);
  for (const v of Object.values(report.ratios)) expect(Number.isFinite(v as number) && (v as number) > 0).toBe(true);
  expect(report.memoryBandwidthGBs).toBeGreaterThan(0);
  const modes = ["base", "mixture", "fusion", "selection", "sequential", "dense"];
  for (const batch of [1, 4])
    for (const mode of modes) {
      const row = report.rows.find((x: { mode: string; batch: number }) => x.mode === mode && x.batch === batch);
      expect(row).toBeDefined();
      expect(row.tokensPerSecond).toBeGreaterThan(0);
      expect(row.bandwidthFraction).toBeGreaterThan(0);
    }
  expect(report.adapters.count).toBe(6);
  expect(lines.some((l) => l.startsWith("mixtureVsSequential"))).toBe(true);
}, 120_000);
