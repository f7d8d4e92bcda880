// `quiver eval retrieval --data DIR [--json] [--with-distractors] [--queries N] [--tasks a,b]
//   [--database-url URL] [--ef-search N] [--save-head DIR]`
// The LoraRetriever benchmark (paper Table 2) through Quiver's retrieval path: adapters
// embedded from their samples into pgvector (embedded PGlite unless --database-url or
// DATABASE_URL), test inputs encoded and searched through the HNSW index; accuracy top-1/3/5
// overall, seen/unseen, per cluster; untrained and with the head trained on train_tasks.txt.
// A table on stdout; with --json, one JSON object on the last line. Progress on stderr.
import { parseArgs } from "node:util";
import { openCatalog } from "../../catalog/database.js";
import { EmbeddingStore } from "../../catalog/embeddings.js";
import { loadBaseEncoder, encoderConfigFromEnv } from "../../retriever/encoder-factory.js";
import { loadFlanMixed } from "../../retriever/eval/flan-mixed.js";
import { evalJson, runRetrievalEval, type RetrievalEvalReport } from "../../retriever/eval/retrieval-eval.js";
import type { TopK } from "../../retriever/eval/accuracy.js";
import { RetrieverError, RetrieverErrorCode } from "../../retriever/errors.js";

const USAGE =
  "Usage: quiver eval retrieval --data DIR [--json] [--with-distractors] [--queries N] [--tasks a,b,...] [--database-url URL] [--ef-search N] [--save-head DIR]";

/** Paper Table 2 (48 LoRAs), for the table printed beside ours. */
const PAPER: Array<[string, TopK]> = [
  ["paper: all-MiniLM-L6-v2", { top1: 51.73, top3: 73.11, top5: 80.54 }],
  ["paper: Instructor-XL, untrained", { top1: 60.8, top3: 79.29, top5: 85.57 }],
  ["paper: LoraRetriever, 40% tasks", { top1: 63.16, top3: 89.09, top5: 95.45 }],
];

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new RetrieverError(RetrieverErrorCode.BAD_REQUEST, `${flag} must be a positive whole number`);
  return n;
}

const fmt = (x: number) => x.toFixed(2).padStart(8);
const row = (label: string, t: TopK, n?: number) =>
  `${label.padEnd(36)}${fmt(t.top1)}${fmt(t.top3)}${fmt(t.top5)}${n === undefined ? "" : String(n).padStart(8)}`;

function table(r: RetrievalEvalReport, kind: string): string {
  const lines = [
    `Retrieval accuracy on flan-mixed: ${r.adapters} adapters${r.distractors ? ` + ${r.distractors} distractors` : ""} (20 samples each), ` +
      `${r.queries} test inputs, pgvector HNSW on ${kind}; seen = the ${r.seenTasks.length} tasks of train_tasks.txt`,
    "",
    `${"".padEnd(36)}${"top-1".padStart(8)}${"top-3".padStart(8)}${"top-5".padStart(8)}`,
  ];
  for (const [name, res] of [
    ["untrained", r.untrained],
    ["trained", r.trained],
  ] as const) {
    lines.push(row(`${name} (${res.encoderId})`.slice(0, 35), res.accuracy.overall));
    lines.push(row("  seen", res.accuracy.seen), row("  unseen", res.accuracy.unseen));
  }
  lines.push(
    ...PAPER.map(([label, t]) => row(label, t)),
    "",
    `${"by cluster (untrained | trained)".padEnd(36)}${"top-1".padStart(8)}${"top-3".padStart(8)}${"top-5".padStart(8)}`,
  );
  for (const c of Object.keys(r.untrained.accuracy.byCluster)) {
    const u = r.untrained.accuracy.byCluster[c]!;
    const t = r.trained.accuracy.byCluster[c]!;
    lines.push(`${c.padEnd(36)}${fmt(u.top1)}${fmt(u.top3)}${fmt(u.top5)}  |${fmt(t.top1)}${fmt(t.top3)}${fmt(t.top5)}`);
  }
  const lat = (res: RetrievalEvalReport["untrained"]) =>
    `encode p50 ${res.latency.encodeP50Ms.toFixed(2)} ms, p99 ${res.latency.encodeP99Ms.toFixed(2)} ms; search p50 ${res.latency.searchP50Ms.toFixed(2)} ms, p99 ${res.latency.searchP99Ms.toFixed(2)} ms`;
  lines.push(
    "",
    `latency per query, untrained: ${lat(r.untrained)}`,
    `latency per query, trained:   ${lat(r.trained)}`,
    `test inputs cut before encoding (past ~1,000 characters or the model's token limit): ${r.untrained.truncatedQueries}`,
    `head: rank ${r.head.rank}, trained on ${r.head.training.tasks.length} tasks, sha256 ${r.head.sha256.slice(0, 16)}, config ${JSON.stringify(r.head.training.config)}`,
  );
  return lines.join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: "string" },
      json: { type: "boolean" },
      "with-distractors": { type: "boolean" },
      queries: { type: "string" },
      tasks: { type: "string" },
      "database-url": { type: "string" },
      "ef-search": { type: "string" },
      "save-head": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.data) {
    console.error(USAGE);
    return 2;
  }
  const data = loadFlanMixed(values.data);
  const tasks = values.tasks
    ? new Set(
        values.tasks
          .split(",")
          .map((t) => t.trim())
          .filter(Boolean),
      )
    : undefined;
  const databaseUrl = values["database-url"] ?? process.env.DATABASE_URL;
  const log = (line: string) => console.error(`eval: ${line}`);

  const base = await loadBaseEncoder(encoderConfigFromEnv());
  const catalog = await openCatalog(databaseUrl ? { databaseUrl } : {});
  try {
    const report = await runRetrievalEval({
      data,
      store: new EmbeddingStore(catalog.prisma),
      base,
      withDistractors: values["with-distractors"] ?? false,
      tasks,
      queryCount: positiveInt(values.queries, "--queries"),
      efSearch: positiveInt(values["ef-search"], "--ef-search"),
      headDir: values["save-head"],
      log,
    });
    console.log(table(report, catalog.kind));
    if (values.json) console.log(JSON.stringify(evalJson(report)));
    return 0;
  } finally {
    await catalog.close();
    await base.close();
  }
}
