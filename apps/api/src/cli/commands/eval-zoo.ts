// `quiver eval zoo [--zoo DIR] [--json] [--k 3] [--split test|validation] [--limit N]
//   [--device D] [--max-tokens N] [--batch N] [--strict-ood]`
// The paper's Table 1 (exact match, %) on the model zoo's held-out items: base, perfect
// selection, and selection / mixture / fusion / concat with IID and OOD retrieval, per
// cluster and on average (apps/api/src/zoo/eval.ts). A table on stdout; with --json, one
// JSON object on the last line. Progress on stderr.
import path from "node:path";

import { parseWeighting, type Weighting } from "../../retriever/mixture-weights.js";
import { parseArgs } from "node:util";
import type { Device } from "@quiver/engine";
import { QuiverError } from "../../errors.js";
import { loadConfig, zooSetting } from "../../config.js";
import { encoderConfigFromEnv, loadEncoder } from "../../retriever/encoder-factory.js";
import type { SentenceEncoder } from "../../retriever/encoder.js";
import { HeadEncoder } from "../../retriever/head/head-encoder.js";
import { leaveOneOutRetrievers } from "../../zoo/leave-one-out.js";
import { COLUMNS, openZoo, runZooEval, zooEvalJson, type Column, type Scores, type Split, type ZooEvalReport } from "../../zoo/eval.js";
import { zooRetrieverHead } from "../../zoo/manifest.js";

const USAGE = `Usage: quiver eval zoo [options]
  --zoo DIR          the zoo (default: QUIVER_ZOO, else <repo>/zoo)
  --json             end stdout with one JSON object
  --k K              adapters retrieved for mixture, fusion and concat (default 3)
  --weighting W      mixture weights: uniform (the paper's) or softmax:T (scores / T); default:
                     the server's (QUIVER_MIXTURE_WEIGHTING, softmax:0.05)
  --split S          test (default) | validation
  --limit N          items per task (default: all)
  --device D         auto | cpu | cpu-reference | cuda (default: QUIVER_DEVICE, else auto);
                     cuda-emulated runs the CUDA backend's code on the CPU (slow; for checks)
  --max-tokens N     tokens generated per item (default: the longest answer + 8)
  --batch N          sequences per engine step (default 64)
  --strict-ood       OOD retrieval through a retriever head retrained without the item's task
                     (the served head's settings), so neither the pool nor the retriever has
                     seen it; without a head, OOD is that already
The retrieval encoder is the server's (QUIVER_ENCODER, QUIVER_ENCODER_PREFIX, QUIVER_RETRIEVER_HEAD):
by default the zoo's retriever head on USE-lite; QUIVER_RETRIEVER_HEAD=off leaves the head out.`;

const DEVICES = ["auto", "cpu", "cpu-reference", "cuda", "cuda-emulated"];

const HEADERS: Record<Column, string> = {
  base: "base",
  perfect: "perfect",
  selectionIid: "sel-iid",
  selectionOod: "sel-ood",
  mixtureIid: "mix-iid",
  mixtureOod: "mix-ood",
  fusionIid: "fus-iid",
  fusionOod: "fus-ood",
  concatIid: "cat-iid",
  concatOod: "cat-ood",
};

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new QuiverError("BAD_USER_INPUT", `${flag} must be a positive whole number`);
  return n;
}

/** The default zoo folder: QUIVER_ZOO (unless "off"), else <repo root>/zoo. */
function defaultZoo(): string {
  return (zooSetting(process.env.QUIVER_ZOO || undefined) ?? zooSetting(undefined)!).dir;
}

export function zooTable(r: ZooEvalReport): string {
  const width = Math.max(12, ...Object.keys(r.byCluster).map((c) => c.length + 2));
  const row = (label: string, s: Scores) => label.padEnd(width) + COLUMNS.map((c) => s[c].toFixed(1).padStart(9)).join("");
  const lines = [
    `Model zoo ${r.zoo}: ${r.items} ${r.split} items of ${r.tasks} tasks in ${Object.keys(r.byCluster).length} clusters, exact match (%), k = ${r.k}, encoder ${r.encoder}, ${r.device}`,
    "",
    "cluster".padEnd(width) + COLUMNS.map((c) => HEADERS[c].padStart(9)).join(""),
    ...Object.entries(r.byCluster).map(([c, s]) => row(c, s)),
    row("average", r.average),
    "",
    "cluster = mean of its tasks' exact match; average = mean over clusters of the cluster means.",
    `perfect = the item's own task adapter; sel = top-1 retrieved; mix / fus / cat = top-k with ${r.weighting} weights as mixture, fusion (averaged A and B, the paper's) and concatenation (exact).`,
    r.oodRetriever === "leave-one-out"
      ? "IID retrieves over all zoo adapters; OOD leaves the item's own task adapter out, through a retriever head trained without that task (--strict-ood)."
      : "IID retrieves over all zoo adapters; OOD leaves the item's own task adapter out.",
    `retrieval top-1 (task / cluster): IID ${r.retrieval.iid.top1Task.toFixed(1)} / ${r.retrieval.iid.top1Cluster.toFixed(1)}, OOD cluster ${r.retrieval.ood.top1Cluster.toFixed(1)}; ` +
      `own task in the top ${r.k} (IID): ${r.retrieval.iid.topkTask.toFixed(1)}`,
    `${r.generations} generations of up to ${r.maxTokens} tokens in ${r.seconds.toFixed(1)} s`,
  ];
  return lines.join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      zoo: { type: "string" },
      json: { type: "boolean" },
      k: { type: "string" },
      weighting: { type: "string" },
      split: { type: "string" },
      limit: { type: "string" },
      device: { type: "string" },
      "max-tokens": { type: "string" },
      batch: { type: "string" },
      "strict-ood": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const split = values.split ?? "test";
  if (split !== "test" && split !== "validation") {
    console.error(`quiver eval zoo: --split must be test or validation\n${USAGE}`);
    return 2;
  }
  const device = values.device ?? process.env.QUIVER_DEVICE ?? "auto";
  if (!DEVICES.includes(device)) {
    console.error(`quiver eval zoo: --device must be one of ${DEVICES.join(", ")}\n${USAGE}`);
    return 2;
  }
  let weighting: Weighting;
  try {
    weighting = values.weighting ? parseWeighting(values.weighting) : loadConfig().weighting;
  } catch (err) {
    console.error(`quiver eval zoo: --weighting: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const options = {
    weighting,
    dir: values.zoo ? path.resolve(values.zoo) : defaultZoo(),
    split: split as Split,
    k: positiveInt(values.k, "--k") ?? 3,
    limit: positiveInt(values.limit, "--limit"),
    device: device as Device,
    maxTokens: positiveInt(values["max-tokens"], "--max-tokens"),
    batch: positiveInt(values.batch, "--batch") ?? 64,
  };
  const log = (line: string) => console.error(`eval zoo: ${line}`);

  const manifest = openZoo(options.dir); // a missing or broken zoo is reported before the encoder loads
  // The server's retrieval: the zoo's retriever head on the configured encoder, unless
  // QUIVER_RETRIEVER_HEAD names another head or "off".
  const encoderConfig = encoderConfigFromEnv(process.env, { headDir: zooRetrieverHead(options.dir, manifest) });
  const encoder = await loadEncoder(encoderConfig, log);
  try {
    let oodEncoders: Map<string, SentenceEncoder> | undefined;
    if (values["strict-ood"]) {
      if (encoder instanceof HeadEncoder) {
        log(`--strict-ood: training ${manifest.tasks.length} retriever heads, each without one task (${encoder.manifest.training.config.steps} steps each)`);
        oodEncoders = await leaveOneOutRetrievers(encoder.base, encoder.manifest.training.config, manifest.tasks, (done, total, seconds) => {
          if (done % 6 === 0 || done === total) log(`--strict-ood: ${done} of ${total} heads trained (${seconds.toFixed(0)} s)`);
        });
      } else {
        log(`--strict-ood: ${encoder.identity} has no trained head, so OOD retrieval has seen no task already`);
      }
    }
    const report = await runZooEval({ ...options, encoder, oodEncoders, log });
    console.log(zooTable(report));
    if (values.json) console.log(JSON.stringify(zooEvalJson(report)));
    return 0;
  } finally {
    await encoder.close();
  }
}
