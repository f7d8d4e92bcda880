// Single-stream greedy decode on stories260K: Quiver's engine next to llama2.c's run.c,
// measured side by side on this machine. run.c is not part of this repository: build it
// yourself outside the project (for example `gcc -Ofast -march=native run.c -lm -o run`)
// and pass the binary.
//
//   npx tsx scripts/bench-runc.ts --runc /path/to/run [--steps 200,512] [--repeats 7] [--json]
//
// run.c reports "achieved tok/s" over the tokens after its first one; Quiver is timed over
// the whole native generation call (BOS forward included), which favours run.c.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { convertLlama2c, Engine } from "@quiver/engine";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const { values } = parseArgs({
  options: {
    runc: { type: "string" },
    model: { type: "string", default: path.resolve(root, "..", "shared", "models", "stories260K") },
    steps: { type: "string", default: "200,512" },
    repeats: { type: "string", default: "7" },
    json: { type: "boolean" },
  },
});
if (!values.runc || !existsSync(values.runc)) {
  console.error("usage: npx tsx scripts/bench-runc.ts --runc /path/to/llama2.c/run [--steps 200,512] [--repeats 7] [--json]");
  process.exit(2);
}
const checkpoint = path.join(values.model!, "stories260K.bin");
const tokenizer = path.join(values.model!, "tok512.bin");
const repeats = Number(values.repeats);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(path.join(os.tmpdir(), "quiver-runc-"));
convertLlama2c(checkpoint, tokenizer, dir);
const engine = await Engine.open(dir, { device: "cpu" });

// run.c and Quiver alternate, so both see the same machine load.
const rows = [];
for (const steps of values.steps!.split(",").map(Number)) {
  const runc: number[] = [];
  const quiver: number[] = [];
  let runcText = "";
  let text = "";
  for (let i = 0; i < repeats; i++) {
    const r = spawnSync(values.runc, [checkpoint, "-z", tokenizer, "-t", "0", "-n", String(steps)], { encoding: "utf8" });
    const m = /achieved tok\/s: ([0-9.]+)/.exec(r.stderr);
    if (r.status !== 0 || !m) throw new Error(`run.c failed: ${r.stderr}`);
    runc.push(Number(m[1]));
    runcText = r.stdout;

    const seq = await engine.createSequence();
    const t0 = performance.now();
    const g = await engine.generate(seq, [engine.info.bosTokenId], { maxTokens: steps });
    const seconds = (performance.now() - t0) / 1000;
    await engine.freeSequence(seq);
    quiver.push(g.tokens.length / seconds);
    text = engine.tokenizer!.decode(g.tokens) + "\n";
  }
  rows.push({ steps, runcTokensPerSecond: median(runc), quiverTokensPerSecond: median(quiver), sameText: text === runcText });
}
await engine.close();

console.log(`${"steps".padStart(6)}${"run.c tok/s".padStart(14)}${"quiver tok/s".padStart(15)}${"ratio".padStart(8)}  same text`);
for (const r of rows)
  console.log(
    `${String(r.steps).padStart(6)}${r.runcTokensPerSecond.toFixed(0).padStart(14)}${r.quiverTokensPerSecond.toFixed(0).padStart(15)}` +
      `${(r.quiverTokensPerSecond / r.runcTokensPerSecond).toFixed(2).padStart(8)}  ${r.sameText}`,
  );
if (values.json) console.log(JSON.stringify({ runc: values.runc, repeats, rows }));
