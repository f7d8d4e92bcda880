// `quiver bench retrieval-encode [--json] [--data DIR] [--queries N]`
// Encoding latency of one query with the default encoder (USE-lite), per backend: the
// package's TF.js graph (the reference) and the onnxruntime graph Quiver runs. Cold start
// (load to first vector), then after a warm-up one query at a time: short inputs, and FLAN
// test inputs from --data (evenly spaced over mixed_test.json) when given.
import { parseArgs } from "node:util";
import { UseLiteEncoder, type UseLiteBackendName } from "../../retriever/use-lite/use-lite-encoder.js";
import { loadFlanMixed } from "../../retriever/eval/flan-mixed.js";
import { percentile } from "../../retriever/eval/latency.js";
import { encoderThreads } from "../../retriever/onnx/ort.js";

const SHORT = [
  "What is the sentiment of this review? Great food, slow service.",
  "Translate to German: the meeting is at noon.",
  "Who wrote the novel Pride and Prejudice?",
  "Is the premise entailed by the hypothesis?",
  "Summarize the article in one sentence.",
];

async function timeEach(encoder: UseLiteEncoder, texts: readonly string[]): Promise<{ p50: number; p99: number; mean: number }> {
  const ms: number[] = [];
  for (const t of texts) {
    const t0 = performance.now();
    await encoder.encode([t]);
    ms.push(performance.now() - t0);
  }
  const r = (x: number) => Math.round(x * 100) / 100;
  return { p50: r(percentile(ms, 50)), p99: r(percentile(ms, 99)), mean: r(ms.reduce((a, b) => a + b, 0) / ms.length) };
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: "boolean" }, data: { type: "string" }, queries: { type: "string" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help) {
    console.log("Usage: quiver bench retrieval-encode [--json] [--data DIR] [--queries N]");
    return 0;
  }
  const n = Number(values.queries ?? 300);
  const flan = values.data ? loadFlanMixed(values.data).test : [];
  const flanTexts = flan.length
    ? Array.from({ length: Math.min(n, flan.length) }, (_, i) => flan[Math.floor((i * flan.length) / Math.min(n, flan.length))]!.input)
    : [];
  const shortTexts = Array.from({ length: n }, (_, i) => SHORT[i % SHORT.length]!);

  const rows = [];
  for (const backend of ["tfjs", "onnx"] as UseLiteBackendName[]) {
    const t0 = performance.now();
    const encoder = await UseLiteEncoder.load({ backend });
    await encoder.encode([SHORT[0]!]);
    const coldMs = Math.round(performance.now() - t0);
    for (let i = 0; i < 20; i++) await encoder.encode([SHORT[i % SHORT.length]!]); // warm-up
    const short = await timeEach(encoder, shortTexts);
    const flanStats = flanTexts.length ? await timeEach(encoder, flanTexts) : undefined;
    await encoder.close();
    rows.push({ backend, coldMs, short, flan: flanStats });
    console.error(`bench: ${backend} done`);
  }
  const lines = [
    `USE-lite, one query per call after warm-up; ${n} queries each; onnxruntime threads ${encoderThreads()}`,
    "",
    `${"backend".padEnd(8)}${"cold ms".padStart(9)}${"short p50".padStart(11)}${"short p99".padStart(11)}${"FLAN p50".padStart(10)}${"FLAN p99".padStart(10)}`,
    ...rows.map(
      (r) =>
        `${r.backend.padEnd(8)}${String(r.coldMs).padStart(9)}${r.short.p50.toFixed(2).padStart(11)}${r.short.p99.toFixed(2).padStart(11)}` +
        `${(r.flan ? r.flan.p50.toFixed(2) : "-").padStart(10)}${(r.flan ? r.flan.p99.toFixed(2) : "-").padStart(10)}`,
    ),
  ];
  console.log(lines.join("\n"));
  if (values.json) console.log(JSON.stringify({ queries: n, threads: encoderThreads(), backends: rows }));
  return 0;
}
