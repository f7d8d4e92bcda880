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
      expect(row.rounds).toBe(3); // the tiny preset: 3 rounds, no time floor
    }
  expect(report.statistic).toBe("fastest round of 2 decode steps, of at least 3 rounds per batch size");
  expect(report.adapters.count).toBe(6);
  expect(lines.some((l) => l.startsWith("mixtureVsSequential"))).toBe(true);

  // The compute side: a probe on the CPU, each row's arithmetic, and the ceilings.
  expect(report.computeGflops).toBeGreaterThan(0);
  const row = (mode: string, batch: number) => report.rows.find((x: { mode: string; batch: number }) => x.mode === mode && x.batch === batch);
  const { PRESETS } = await import("@quiver/engine");
  const t = PRESETS.tiny!.model;
  const kv = (t.dim / t.heads) * t.kvHeads;
  const macs = t.layers * (2 * t.dim * t.dim + 2 * t.dim * kv + 3 * t.dim * t.hidden) + t.vocab * t.dim;
  expect(row("base", 1).flopsPerStep).toBe(2 * macs);
  expect(row("base", 4).flopsPerStep).toBe(4 * row("base", 1).flopsPerStep);
  expect(row("mixture", 4).flopsPerStep).toBeGreaterThan(row("selection", 4).flopsPerStep);
  expect(row("selection", 4).flopsPerStep).toBeGreaterThan(row("base", 4).flopsPerStep);
  expect(row("dense", 4).flopsPerStep).toBeGreaterThanOrEqual(row("mixture", 4).flopsPerStep);
  // Fractions are against the probes of the row's own batch size; the run's figures are the fastest of those.
  expect(report.probes.map((p: { batch: number }) => p.batch)).toEqual([1, 4]);
  const probe = (batch: number) => report.probes.find((p: { batch: number }) => p.batch === batch);
  for (const r of report.rows) {
    expect(r.computeFraction).toBeCloseTo(r.gflops / probe(r.batch).computeGflops, 9);
    expect(r.bandwidthFraction).toBeCloseTo(r.bandwidthGBs / probe(r.batch).memoryBandwidthGBs, 9);
  }
  expect(report.memoryBandwidthGBs).toBe(Math.max(...report.probes.map((p: { memoryBandwidthGBs: number }) => p.memoryBandwidthGBs)));
  expect(report.computeGflops).toBe(Math.max(...report.probes.map((p: { computeGflops: number }) => p.computeGflops)));
  expect(report.ceilings.mixtureVsSequential).toBeGreaterThan(0);
  expect(report.ceilings.denseVsGatherFlops).toBe(row("dense", 4).flopsPerStep / row("mixture", 4).flopsPerStep);
  expect(lines.some((l) => l.startsWith("at best on this machine"))).toBe(true);
}, 120_000);

test("the compute probe: arguments are checked; the reference device has none", async () => {
  const { Engine } = await import("@quiver/engine");
  const { SMALL, writeRandomModel } = await import("./fixtures.js");
  const dir = tempDir("probe");
  writeRandomModel(dir, SMALL);
  const fast = await Engine.open(dir, { device: "cpu" });
  await expect(fast.measureCompute(0, 1)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  await expect(fast.measureCompute(0.001, 0)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  expect(await fast.measureCompute(0.001, 1)).toBeGreaterThan(0);
  await fast.close();
  const ref = await Engine.open(dir, { device: "cpu-reference" });
  await expect(ref.measureCompute(0.001, 1)).rejects.toMatchObject({ code: "UNSUPPORTED" });
  await ref.close();
});
