// `quiver train zoo [--out DIR] [--seed S] [--base-steps N] [--adapter-steps N] [--threads T] [--device D]
//   [--reuse-base DIR --only TASK,...] [--json]`: builds the model zoo (zoo/ by default) from
// the seed: the task suite, the base model, one adapter per task and the retriever head (see
// zoo/train-zoo.ts).
import path from "node:path";
import { parseArgs } from "node:util";

import type { TrainDevice } from "@quiver/engine";

import { QuiverError } from "../../errors.js";
import { repoRoot } from "../../catalog/migrate.js";
import { trainZoo, ZOO_DEFAULTS } from "../../zoo/train-zoo.js";

const HELP = `Usage: quiver train zoo [options]
  --out DIR            where the zoo goes (default zoo/ in the repository)
  --seed S             default ${ZOO_DEFAULTS.seed}
  --base-steps N       base model steps (default ${ZOO_DEFAULTS.baseSteps})
  --adapter-steps N    steps per adapter (default ${ZOO_DEFAULTS.adapterSteps})
  --threads T          CPU threads (default all; results do not depend on it)
  --device D           cpu (default: the committed zoo is the CPU trainer's bits) | auto | cuda
                       | cuda-emulated
  --reuse-base DIR     take the base model from an existing zoo instead of training it
  --only TASK,...      with --reuse-base: retrain only these adapters
  --json               print the report as one JSON object on the last line`;

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isInteger(x)) throw new QuiverError("BAD_USER_INPUT", `--${name} must be a whole number, not "${v}"`);
  return x;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: "string" },
      seed: { type: "string" },
      "base-steps": { type: "string" },
      "adapter-steps": { type: "string" },
      threads: { type: "string" },
      device: { type: "string" },
      "reuse-base": { type: "string" },
      only: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const report = await trainZoo({
    out: values.out ?? path.join(repoRoot, "zoo"),
    seed: int(values.seed, "seed"),
    baseSteps: int(values["base-steps"], "base-steps"),
    adapterSteps: int(values["adapter-steps"], "adapter-steps"),
    threads: int(values.threads, "threads"),
    device: values.device as TrainDevice | undefined,
    reuseBase: values["reuse-base"],
    only: values.only
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    log: (line) => console.error(line),
  });
  console.log(
    `zoo written to ${report.out} in ${report.totalSeconds.toFixed(0)} s (base ${report.baseSeconds.toFixed(0)} s, ${report.adapters.length} adapters ${report.adapterSeconds.toFixed(0)} s, retriever head ${report.headSeconds.toFixed(0)} s) on ${report.machine}`,
  );
  if (values.json) console.log(JSON.stringify(report));
  return 0;
}
