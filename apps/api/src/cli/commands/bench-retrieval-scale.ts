// `quiver bench retrieval-scale [--json] [--count N] [--queries N] [--ef-search 40,100,200]
//   [--database-url URL]`
// HNSW recall@10 against exact search and search latency with N synthetic adapter vectors
// (default 100,000) on embedded PGlite, and on a PostgreSQL server when --database-url (or
// DATABASE_URL) is given. Use a throwaway database: the run drops and rebuilds the 512-d
// index for its bulk load. A table on stdout; with --json, one JSON object on the last line.
import { parseArgs } from "node:util";
import { openCatalog, type DatabaseKind } from "../../catalog/database.js";
import { EmbeddingStore } from "../../catalog/embeddings.js";
import { runScaleBench, type ScaleReport } from "../../retriever/bench/retrieval-scale.js";
import { RetrieverError, RetrieverErrorCode } from "../../retriever/errors.js";

function int(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new RetrieverError(RetrieverErrorCode.BAD_REQUEST, `${flag} must be a positive whole number`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean" },
      count: { type: "string" },
      queries: { type: "string" },
      "ef-search": { type: "string" },
      "database-url": { type: "string" },
      "skip-pglite": { type: "boolean" },
      clusters: { type: "string" },
      noise: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      "Usage: quiver bench retrieval-scale [--json] [--count N] [--queries N] [--ef-search 40,100,200] [--clusters N] [--noise X] [--database-url URL] [--skip-pglite]",
    );
    return 0;
  }
  const count = int(values.count, 100_000, "--count");
  const queries = int(values.queries, 200, "--queries");
  const efSearch = (values["ef-search"] ?? "40,100,200").split(",").map((s) => int(s.trim(), 100, "--ef-search"));
  const clusters = int(values.clusters, 1000, "--clusters");
  const noise = values.noise === undefined ? 0.6 : Number(values.noise);
  if (!(noise > 0 && Number.isFinite(noise))) throw new RetrieverError(RetrieverErrorCode.BAD_REQUEST, "--noise must be a positive number");
  const url = values["database-url"] ?? process.env.DATABASE_URL;
  const targets: Array<{ kind: DatabaseKind; options: { databaseUrl?: string } }> = [];
  if (!values["skip-pglite"]) targets.push({ kind: "pglite", options: {} });
  if (url) targets.push({ kind: "postgres", options: { databaseUrl: url } });

  const reports: Array<{ kind: DatabaseKind } & ScaleReport> = [];
  for (const t of targets) {
    const log = (line: string) => console.error(`bench ${t.kind}: ${line}`);
    const catalog = await openCatalog(t.options);
    try {
      reports.push({ kind: t.kind, ...(await runScaleBench({ store: new EmbeddingStore(catalog.prisma), count, queries, efSearch, clusters, noise, log })) });
    } finally {
      await catalog.close();
    }
  }
  const lines = [
    `HNSW scale benchmark: ${count} synthetic 512-d adapter vectors (${clusters} clusters, noise ${noise}), ${queries} queries, k = 10, recall against exact search`,
    "",
    `${"database".padEnd(10)}${"ef_search".padStart(10)}${"recall@10".padStart(11)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"exact p50".padStart(11)}${"index".padStart(8)}${"build s".padStart(9)}`,
  ];
  for (const r of reports) {
    for (const e of r.results) {
      lines.push(
        `${r.kind.padEnd(10)}${String(e.efSearch).padStart(10)}${e.recallAt10.toFixed(4).padStart(11)}${e.searchP50Ms.toFixed(2).padStart(9)}${e.searchP99Ms.toFixed(2).padStart(9)}` +
          `${r.exactP50Ms.toFixed(1).padStart(11)}${(r.planUsesIndex ? "used" : "NOT").padStart(8)}${r.indexBuildSeconds.toFixed(0).padStart(9)}`,
      );
    }
  }
  if (!url) lines.push("", "(no --database-url / DATABASE_URL: PostgreSQL server not measured)");
  console.log(lines.join("\n"));
  if (values.json) console.log(JSON.stringify({ count, queries, clusters, noise, databases: reports }));
  return 0;
}
