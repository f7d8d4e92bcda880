// The engine's base decode step next to a mature BLAS doing only the step's matrix products,
// measured side by side on this machine: how much of the FMA peak a batch-32 step can be
// expected to reach, which bounds `quiver bench engine`'s mixtureVsSequential (docs/benchmarks.md).
// The BLAS is OpenBLAS as numpy links it; numpy is not a dependency of Quiver (any python3
// with numpy will do, `--python` names it).
//
//   npx tsx scripts/bench-blas.ts [--python python3] [--batches 1,32] [--rounds 8] [--json]
//
// Both sides use the synthetic Llama of `quiver bench engine` (148.3M parameters, F32; the
// same folder, written when absent) and the engine's thread count. The engine is timed over
// whole decode steps (embedding, norms, attention over the KV cache, projections, output head,
// sampling); OpenBLAS over the seven projections of every layer and the output head alone, as
// y = x W^T with x of (batch, in), in both weight layouts (W as stored, out x in, and W^T
// stored in x out), the faster counting. The two alternate in rounds; each figure is its
// fastest round.
import { spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";

import { Engine, PRESETS, projectionShape, PROJECTIONS, writeSyntheticModel } from "@quiver/engine";

const USAGE = "usage: npx tsx scripts/bench-blas.ts [--python python3] [--batches 1,32] [--rounds 8] [--json]";
const { values } = parseArgs({
  options: {
    python: { type: "string", default: "python3" },
    batches: { type: "string", default: "1,32" },
    rounds: { type: "string", default: "8" },
    json: { type: "boolean" },
  },
});
const batches = values.batches!.split(",").map(Number);
const rounds = Number(values.rounds);
if (!batches.every((b) => Number.isInteger(b) && b >= 1 && b <= 256) || !(Number.isInteger(rounds) && rounds >= 1)) {
  console.error(USAGE);
  process.exit(2);
}
const log = (s: string) => (values.json ? console.error(s) : console.log(s));

const spec = PRESETS.full!.model;
const dir = path.join(os.tmpdir(), "quiver-bench", "full");
log(`synthetic model under ${dir} (written when absent)`);
writeSyntheticModel(path.join(dir, "model"), spec);
const engine = await Engine.open(path.join(dir, "model"), { device: "cpu", threads: 0 });
const { threads, kernels } = engine.info;

// (in, out) of every product of a step: seven per layer, then the output head.
const shapes: [number, number][] = [];
for (let l = 0; l < spec.layers; l++) for (const m of PROJECTIONS) shapes.push(projectionShape(spec, m));
shapes.push([spec.dim, spec.vocab]);
const macsPerRow = shapes.reduce((a, [i, o]) => a + i * o, 0);

// The BLAS side: a python child that allocates the weights once and answers "M" with the
// best of its layouts' times for one step at batch M, in seconds, as JSON.
const PY = String.raw`
import json, sys, time
try:
    import numpy as np
except ImportError:
    print(json.dumps({"error": "numpy is not installed for this python"})); sys.stdout.flush(); sys.exit(0)
shapes = json.loads(sys.argv[1])
rng = np.random.default_rng(1)
stored = [rng.standard_normal((o, i), dtype=np.float32) * 0.02 for i, o in shapes]
transposed = [np.ascontiguousarray(w.T) for w in stored]
try:
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    name = "%s %s" % (blas.get("name", "?"), blas.get("version", "?"))
except Exception:
    name = "unknown BLAS"
print(json.dumps({"ready": True, "numpy": np.__version__, "blas": name})); sys.stdout.flush()
xs = {}
for line in sys.stdin:
    m = int(line)
    for i, _ in shapes:
        if (m, i) not in xs: xs[(m, i)] = rng.standard_normal((m, i), dtype=np.float32)
    t = time.perf_counter()
    for w in stored: xs[(m, w.shape[1])] @ w.T
    a = time.perf_counter() - t
    t = time.perf_counter()
    for w in transposed: xs[(m, w.shape[0])] @ w
    b = time.perf_counter() - t
    time.sleep(0.3)  # OpenBLAS's threads spin a while after a call: let them sleep before the engine's turn
    print(json.dumps({"stored": a, "transposed": b})); sys.stdout.flush()
`;
const env = { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) };
const py = spawn(values.python!, ["-c", PY, JSON.stringify(shapes)], { env, stdio: ["pipe", "pipe", "inherit"] });
py.on("error", (e) => {
  console.error(`bench-blas: cannot run ${values.python}: ${e.message}\n${USAGE}`);
  process.exit(2);
});
const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
const readLine = async () => {
  const r = await lines.next();
  if (r.done) throw new Error(`${values.python} exited before answering`);
  return JSON.parse(r.value) as Record<string, unknown>;
};
log(`allocating the BLAS side's weights (${((macsPerRow * 8) / 1e9).toFixed(2)} GB in two layouts)`);
const hello = await readLine();
if (hello.error) {
  console.error(`bench-blas: ${hello.error} (${values.python}); pass --python with one that has numpy`);
  process.exit(2);
}
log(`${hello.blas} via numpy ${hello.numpy}, ${threads} threads; engine ${kernels} kernels`);

async function blasStep(m: number): Promise<{ stored: number; transposed: number }> {
  py.stdin.write(`${m}\n`);
  return (await readLine()) as { stored: number; transposed: number };
}

interface Row {
  batch: number;
  engineMs: number;
  blasMs: number;
  blasLayout: "stored" | "transposed";
  engineGflops: number;
  blasGflops: number;
  engineVsBlas: number;
}
const rows: Row[] = [];
const steps = 4;
for (const batch of batches) {
  const seqs = await Promise.all(Array.from({ length: batch }, () => engine.createSequence()));
  let next = seqs.map((_, k) => [5 + k, 9, 11, 13, 17, 19, 23, 29]);
  const step = async () => {
    const out = await engine.step(seqs.map((sequence, k) => ({ sequence, tokens: next[k]!, strategy: "none" as const, adapters: [] })));
    next = out.results.map((r) => [r.token]);
  };
  await step();
  await step();
  await blasStep(batch);
  let engineBest = Infinity;
  let stored = Infinity;
  let transposed = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let s = 0; s < steps; s++) await step();
    engineBest = Math.min(engineBest, (performance.now() - t0) / steps);
    const b = await blasStep(batch);
    stored = Math.min(stored, b.stored * 1000);
    transposed = Math.min(transposed, b.transposed * 1000);
  }
  for (const s of seqs) await engine.freeSequence(s);
  const blasMs = Math.min(stored, transposed);
  const gflops = (ms: number) => (2 * macsPerRow * batch) / (ms / 1000) / 1e9;
  rows.push({
    batch,
    engineMs: engineBest,
    blasMs,
    blasLayout: stored <= transposed ? "stored" : "transposed",
    engineGflops: gflops(engineBest),
    blasGflops: gflops(blasMs),
    engineVsBlas: blasMs / engineBest,
  });
}
py.stdin.end();
await engine.close();

const report = { blas: hello.blas, numpy: hello.numpy, threads, kernels, rounds, rows };
log("batch | engine ms/step (whole step) | OpenBLAS ms (products only) | engine GFLOP/s | OpenBLAS GFLOP/s | engine speed / OpenBLAS");
for (const r of rows)
  log(
    `${r.batch} | ${r.engineMs.toFixed(1)} | ${r.blasMs.toFixed(1)} (${r.blasLayout}) | ${r.engineGflops.toFixed(1)} | ${r.blasGflops.toFixed(1)} | ${r.engineVsBlas.toFixed(2)}`,
  );
if (values.json) console.log(JSON.stringify(report));
