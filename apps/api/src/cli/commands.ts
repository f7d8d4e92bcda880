// The `quiver` command table. Each entry loads its module lazily, so a light command such as
// `quiver generate` never pays for the API server's imports. Names are contracts
// (../shared/docs/design.md): keep them.

export interface CommandModule {
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  /** One line for `quiver help`. */
  summary: string;
  load: () => Promise<CommandModule>;
}

export const commands: Record<string, CommandEntry> = {
  serve: {
    summary: "start the API (GraphQL, /healthz) and the dashboard",
    load: () => import("./commands/serve.js"),
  },
  "db migrate": {
    summary: "apply pending migrations to the configured database (done at start anyway)",
    load: () => import("./commands/db-migrate.js"),
  },
  "db diff": {
    summary: "write a new migration from prisma/schema.prisma changes: db diff --name NAME",
    load: () => import("./commands/db-diff.js"),
  },
  "bench load": {
    summary: "load test of the generation API (64 and 256 concurrent streams) against the engine's own throughput",
    load: () => import("./commands/bench-load.js"),
  },
  "bench soak": {
    summary: "minutes of streams with disconnects, cancels and adapter churn: exactness, usage = delivery, memory slope (--json, --minutes, --streams)",
    load: () => import("./commands/bench-soak.js"),
  },
  "schema print": {
    summary: "print the GraphQL SDL (--out FILE writes it)",
    load: () => import("./commands/schema-print.js"),
  },
  generate: {
    summary: "generate text with the engine: generate --model DIR --prompt TEXT [--adapter DIR[=W]]...",
    load: () => import("./commands/generate.js"),
  },
  "convert llama2c": {
    summary: "convert a llama2.c checkpoint: convert llama2c --checkpoint F --tokenizer F --out DIR",
    load: () => import("./commands/convert-llama2c.js"),
  },
  "eval retrieval": {
    summary: "retrieval accuracy on the LoraRetriever benchmark: eval retrieval --data DIR [--json] [--with-distractors]",
    load: () => import("./commands/eval-retrieval.js"),
  },
  "eval zoo": {
    summary: "the paper's Table 1 on the model zoo's held-out items: eval zoo [--zoo DIR] [--json] [--k 3] [--split test|validation] [--limit N]",
    load: () => import("./commands/eval-zoo.js"),
  },
  "bench retrieval-scale": {
    summary: "HNSW recall@10 vs exact search and latency, 100k synthetic adapters (--json, --database-url URL)",
    load: () => import("./commands/bench-retrieval-scale.js"),
  },
  "bench retrieval-encode": {
    summary: "query encoding latency of the default encoder, TF.js reference vs onnxruntime (--data DIR, --json)",
    load: () => import("./commands/bench-retrieval-encode.js"),
  },
  "train lora": {
    summary: "train a LoRA adapter with the engine: train lora --model DIR --data FILE.jsonl --out DIR [--rank R] [--steps N]",
    load: () => import("./commands/train-lora.js"),
  },
  "train zoo": {
    summary: "build the model zoo (base model + one adapter per task of the suite) from a seed (--out DIR, --json)",
    load: () => import("./commands/train-zoo.js"),
  },
  "bench engine": {
    summary: "engine throughput: base, mixture, fusion, selection, sequential, dense (--json, --preset tiny)",
    load: () => import("./commands/bench-engine.js"),
  },
};
