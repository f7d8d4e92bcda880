// `quiver bench engine [--json] [--preset full|tiny] [--device D] [--threads N] [--data DIR]
//   [--adapter-dtype F32|BF16|F16]`:
// decode throughput per adapter mode and batch size on a synthetic Llama (about 150M
// parameters, 48 adapters in the full preset), with the memory bandwidth and the f32
// multiply-add peak measured in the same run. A table on stdout; with --json, one JSON object on the last line.
import { parseArgs } from "node:util";

import { benchEngine, EngineError, PRESETS, type Device } from "@quiver/engine";

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean" },
      preset: { type: "string" },
      device: { type: "string" },
      threads: { type: "string" },
      data: { type: "string" },
      "adapter-dtype": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      `Usage: quiver bench engine [--json] [--preset ${Object.keys(PRESETS).join("|")}] [--device auto|cpu|cpu-reference|cuda] [--threads N] [--data DIR] [--adapter-dtype F32|BF16|F16]`,
    );
    return 0;
  }
  const threads = values.threads === undefined ? 0 : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 0) throw new EngineError("INVALID_ARGUMENT", "--threads must be a whole number");
  const adapterDtype = (values["adapter-dtype"] ?? "F32").toUpperCase();
  if (adapterDtype !== "F32" && adapterDtype !== "BF16" && adapterDtype !== "F16")
    throw new EngineError("INVALID_ARGUMENT", "--adapter-dtype must be F32, BF16 or F16");
  const report = await benchEngine({
    preset: values.preset ?? "full",
    device: (values.device ?? process.env.QUIVER_DEVICE ?? "auto") as Device,
    threads,
    dataDir: values.data,
    adapterDtype,
    log: (line) => console.error(`bench: ${line}`),
  });
  const lines = [
    `engine benchmark, preset ${report.preset}: ${(report.model.parameters / 1e6).toFixed(1)}M parameters (${report.model.dtype}), ` +
      `${report.adapters.count} ${report.adapters.dtype} adapters of rank ${report.adapters.ranks.join("/")} on ${report.adapters.modules.length} projections; ` +
      `${report.device} (${report.kernels} kernels), ${report.threads} threads; memory bandwidth ${report.memoryBandwidthGBs.toFixed(1)} GB/s at best; ` +
      (report.computeGflops === null ? "no compute probe" : `f32 multiply-add peak ${report.computeGflops.toFixed(1)} GFLOP/s`),
    `each figure: the ${report.statistic}; fractions of peak against the probes of the same batch size (` +
      report.probes
        .map((p) => `batch ${p.batch}: ${p.memoryBandwidthGBs.toFixed(1)} GB/s${p.computeGflops === null ? "" : `, ${p.computeGflops.toFixed(1)} GFLOP/s`}`)
        .join("; ") +
      ")",
    "",
    `${"mode".padEnd(11)}${"batch".padStart(6)}${"tokens/s".padStart(11)}${"ms/step".padStart(10)}${"adapters".padStart(10)}${"GB/s".padStart(8)}${"of peak".padStart(9)}` +
      `${"GFLOP/s".padStart(9)}${"of peak".padStart(9)}${"rounds".padStart(8)}`,
    ...report.rows.map(
      (r) =>
        `${r.mode.padEnd(11)}${String(r.batch).padStart(6)}${r.tokensPerSecond.toFixed(1).padStart(11)}${r.stepMs.toFixed(1).padStart(10)}` +
        `${String(r.adaptersRead).padStart(10)}${r.bandwidthGBs.toFixed(1).padStart(8)}${(100 * r.bandwidthFraction).toFixed(0).padStart(8)}%` +
        `${r.gflops.toFixed(1).padStart(9)}${r.computeFraction === null ? "n/a".padStart(9) : `${(100 * r.computeFraction).toFixed(0).padStart(8)}%`}` +
        `${String(r.rounds).padStart(8)}`,
    ),
    "",
    ...Object.entries(report.ratios).map(
      ([k, v]) =>
        `${k.padEnd(22)} ${v.toFixed(2).padStart(7)}  (target >= ${report.targets[k as keyof typeof report.targets]}, ` +
        `${report.targetsMet[k as keyof typeof report.targetsMet] ? "met" : "NOT met"})`,
    ),
    "",
    `at best on this machine (batch ${report.ratiosAtBatch}): mixtureVsSequential ` +
      (report.ceilings.mixtureVsSequential === null ? "n/a (no compute probe)" : report.ceilings.mixtureVsSequential.toFixed(2)) +
      ` (mixture at 100% of the multiply-add peak against one-at-a-time as measured); dense/gather arithmetic ${report.ceilings.denseVsGatherFlops.toFixed(2)}`,
  ];
  console.log(lines.join("\n"));
  if (values.json) console.log(JSON.stringify(report));
  return 0;
}
