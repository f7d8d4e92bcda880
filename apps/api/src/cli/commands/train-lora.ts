// `quiver train lora --model DIR --data FILE.jsonl --out DIR [--rank R] [--steps N] [--device D] ...`
// Trains a LoRA adapter with the native engine and writes it as a PEFT folder. The data is
// JSON lines of {"input": ..., "answer": ...}; the loss is taken on the answer only. Every
// check runs before training starts; progress goes to stderr, the summary to stdout.
import { parseArgs } from "node:util";

import { PROJECTIONS, type Projection, type TrainDevice } from "@quiver/engine";

import { QuiverError } from "../../errors.js";
import { readExamples, trainLoraAdapter } from "../../training/train.js";

const HELP = `Usage: quiver train lora --model DIR --data FILE.jsonl --out DIR [options]
  --rank R          LoRA rank, 1..64 (default 8)
  --alpha A         scaling alpha (default 2 x rank)
  --steps N         AdamW steps, 1..100000 (default 300)
  --batch-size B    examples per step (default 16)
  --lr X            peak learning rate (default 0.002; warm-up, then cosine decay)
  --modules LIST    projections, comma-separated (default all: ${PROJECTIONS.join(",")})
  --seed S          initialisation and data order (default 0)
  --weight-range A,B  train each batch at a delta weight drawn from [A, B] (default 1,1);
                    0.33,1 keeps the adapter working in a mixture of 3 (weights 1/3)
  --threads T       CPU threads (default all; results do not depend on it)
  --device D        auto (default: CUDA when a GPU answers, else the CPU) | cpu | cuda
                    | cuda-emulated (the CUDA trainer's kernels on the CPU, for tests)
  --force           replace an existing --out folder
  --json            print the summary as one JSON object on the last line

Each line of the data file is {"input": "...", "answer": "..."}.`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x)) throw new QuiverError("BAD_USER_INPUT", `--${name} must be a number, not "${v}"`);
  return x;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      data: { type: "string" },
      out: { type: "string" },
      rank: { type: "string" },
      alpha: { type: "string" },
      steps: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      modules: { type: "string" },
      "weight-range": { type: "string" },
      seed: { type: "string" },
      threads: { type: "string" },
      device: { type: "string" },
      force: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.model || !values.data || !values.out) {
    console.error(HELP);
    return 2;
  }
  const modules = values.modules
    ?.split(",")
    .map((m) => m.trim())
    .filter(Boolean) as Projection[] | undefined;
  let weightRange: [number, number] | undefined;
  if (values["weight-range"] !== undefined) {
    const parts = values["weight-range"].split(",").map((x) => num(x, "weight-range")!);
    if (parts.length < 1 || parts.length > 2) throw new QuiverError("BAD_USER_INPUT", "--weight-range takes MIN or MIN,MAX");
    weightRange = [parts[0]!, parts[1] ?? parts[0]!];
  }
  const examples = readExamples(values.data);
  const result = await trainLoraAdapter({
    modelDir: values.model,
    examples,
    out: values.out,
    rank: num(values.rank, "rank"),
    alpha: num(values.alpha, "alpha"),
    steps: num(values.steps, "steps"),
    batchSize: num(values["batch-size"], "batch-size"),
    lr: num(values.lr, "lr"),
    seed: num(values.seed, "seed"),
    threads: num(values.threads, "threads"),
    device: values.device as TrainDevice | undefined,
    modules,
    weightRange,
    force: values.force,
    source: values.data,
    log: (line) => console.error(line),
    onProgress: (p) => console.error(`step ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  lr ${p.lr.toExponential(2)}  ${p.seconds.toFixed(1)} s`),
  });
  const line = `trained ${values.out} in ${result.seconds.toFixed(1)} s on ${result.device}: ${examples.length} examples, ${result.steps} steps, loss ${result.firstLoss.toFixed(4)} -> ${result.finalLoss.toFixed(4)}`;
  console.log(line);
  if (values.json) console.log(JSON.stringify({ ...result, examples: examples.length }));
  return 0;
}
