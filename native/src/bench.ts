// `quiver bench engine`: decode throughput of a synthetic Llama with a pool of adapters, for
// the ways a server can run per-sample adapters, next to the memory bandwidth measured in
// the same run.
//
// Modes (every sample decodes one token per step):
//   base        no adapters
//   mixture     3 adapters per sample, weights 1/3, gathered per sample (Punica BGMV)
//   fusion      the paper's parameter average of the same 3 adapters, built once per sample
//   selection   the first of the 3 adapters
//   sequential  mixture, one request at a time (batch 1, the requests one after another)
//   dense       mixture through the paper's dense formulation: every sample through every
//               adapter of the batch, then masked by the mapping matrix
//
// The machine's f32 multiply-add peak is probed in the same run (CPU devices), so each mode's
// arithmetic (projections and LoRA deltas; attention left out) can be read as a fraction of
// it, and the run says how far batching can go at best on this machine: `ceilings`.
import os from "node:os";
import path from "node:path";

import { Engine, type Device, type Strategy } from "./engine.js";
import { parameterCount, PROJECTIONS, writeSyntheticAdapter, writeSyntheticModel, type SyntheticModelSpec } from "./synthetic.js";

export const BENCH_MODES = ["base", "mixture", "fusion", "selection", "sequential", "dense"] as const;
export type BenchMode = (typeof BENCH_MODES)[number];

export interface BenchPreset {
  name: string;
  model: SyntheticModelSpec;
  adapters: number;
  ranks: number[];
  batches: number[];
  promptTokens: number;
  /** Decode steps per round; modes take turns for `rounds` rounds at least. */
  decodeSteps: number;
  rounds: number;
  /**
   * Each batch size also runs rounds for at least this many seconds (up to 4 x `rounds`), so
   * that the small batches, whose rounds are short, are not measured in one disturbed moment
   * of a shared machine.
   */
  minSeconds: number;
  bandwidthBytes: number;
  bandwidthRepeats: number;
  /** Length of one pass of the compute probe, in seconds. */
  computeSeconds: number;
}

export const PRESETS: Record<string, BenchPreset> = {
  // About 150M parameters (148M): the issue's benchmark.
  full: {
    name: "full",
    model: { vocab: 32000, dim: 768, hidden: 2048, layers: 14, heads: 12, kvHeads: 12, maxPos: 1024, tied: false, dtype: "F32", seed: 1 },
    adapters: 48,
    ranks: [8, 16],
    batches: [1, 8, 32],
    promptTokens: 8,
    decodeSteps: 4,
    rounds: 9,
    minSeconds: 30,
    bandwidthBytes: 1 << 30,
    bandwidthRepeats: 1,
    computeSeconds: 0.1,
  },
  // Seconds, for the smoke test of the JSON shape.
  tiny: {
    name: "tiny",
    model: { vocab: 256, dim: 64, hidden: 128, layers: 2, heads: 4, kvHeads: 2, maxPos: 128, tied: true, dtype: "F32", seed: 1 },
    adapters: 6,
    ranks: [4, 8],
    batches: [1, 4],
    promptTokens: 4,
    decodeSteps: 2,
    rounds: 3,
    minSeconds: 0,
    bandwidthBytes: 1 << 24,
    bandwidthRepeats: 2,
    computeSeconds: 0.01,
  },
};

export interface BenchRow {
  mode: BenchMode;
  batch: number;
  /** Rounds this batch size ran (the figure is the fastest). */
  rounds: number;
  tokensPerSecond: number;
  stepMs: number;
  /** Distinct adapters (or fused per-sample adapters) one step reads. */
  adaptersRead: number;
  /** Bytes one decode step reads: weights, adapters, KV cache. */
  bytesPerStep: number;
  bandwidthGBs: number;
  /** bandwidthGBs over the fastest bandwidth probe of the same batch size's rounds. */
  bandwidthFraction: number;
  /** Floating-point operations of one step: projections and LoRA deltas (2 per multiply-add). */
  flopsPerStep: number;
  gflops: number;
  /** gflops over the fastest compute probe of the same batch size's rounds; null where the device has no probe. */
  computeFraction: number | null;
}

/** The fastest probes taken during one batch size's rounds (and just before them). */
export interface BenchProbes {
  batch: number;
  memoryBandwidthGBs: number;
  computeGflops: number | null;
}

export const TARGETS = { mixtureVsSequential: 10, mixtureVsBase: 0.7, gatherVsDense: 2, baseBandwidthFraction: 0.6 };
export type Ratios = Record<keyof typeof TARGETS, number>;

export interface BenchReport {
  preset: string;
  device: string;
  /** The kernel set that ran: "avx2" or "generic" (CPU), "cuda", "reference". */
  kernels: string;
  threads: number;
  model: { parameters: number; layers: number; dim: number; hidden: number; vocab: number; weightBytes: number; dtype: string };
  /** bytes: as f32 (the slots of the fast CPU path hold half for BF16 and F16 files) */
  adapters: { count: number; ranks: number[]; modules: readonly string[]; dtype: string; bytes: number };
  /** The fastest bandwidth probe of the whole run. */
  memoryBandwidthGBs: number;
  /** f32 multiply-add peak of the engine's threads (fastest probe of the run); null without a probe. */
  computeGflops: number | null;
  /** Per batch size, the probes its rows' fractions are taken against. */
  probes: BenchProbes[];
  rows: BenchRow[];
  /** mixtureVsSequential, mixtureVsBase, gatherVsDense at the largest batch (32 in full); baseBandwidthFraction at batch 1. */
  ratios: Ratios;
  ratiosAtBatch: number;
  /** How a figure is taken from its rounds. */
  statistic: string;
  targets: typeof TARGETS;
  targetsMet: Record<keyof typeof TARGETS, boolean>;
  /**
   * What this machine allows at best, at the largest batch. mixtureVsSequential: the mixture
   * step at 100% of the compute peak (the probes of that batch size) against the one-at-a-time figure as measured (null
   * without a probe). denseVsGatherFlops: the dense formulation's arithmetic over the gather
   * path's, which bounds gatherVsDense when both run at the same efficiency.
   */
  ceilings: { mixtureVsSequential: number | null; denseVsGatherFlops: number };
}

export interface BenchOptions {
  preset?: string;
  device?: Device;
  threads?: number;
  /** Where the synthetic model and adapters are written (reused across runs). */
  dataDir?: string;
  /** The adapters' files: F32 (default), or BF16 / F16, which the fast CPU path keeps in 16-bit lanes. */
  adapterDtype?: "F32" | "BF16" | "F16";
  log?: (line: string) => void;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function benchEngine(options: BenchOptions = {}): Promise<BenchReport> {
  const preset = PRESETS[options.preset ?? "full"];
  if (!preset) throw new Error(`unknown preset ${options.preset}; use ${Object.keys(PRESETS).join(" or ")}`);
  const log = options.log ?? (() => {});
  const dir = options.dataDir ?? path.join(os.tmpdir(), "quiver-bench", preset.name);
  const spec = preset.model;
  log(
    `writing the synthetic model (${(parameterCount(spec) / 1e6).toFixed(1)}M parameters) and ${preset.adapters} adapters under ${dir} (reused when present)`,
  );
  writeSyntheticModel(path.join(dir, "model"), spec);
  const adapterDtype = options.adapterDtype ?? "F32";
  if (!["F32", "BF16", "F16"].includes(adapterDtype)) throw new Error(`unknown adapter dtype ${adapterDtype}; use F32, BF16 or F16`);
  const adapterDirs = Array.from({ length: preset.adapters }, (_, i) => {
    const rank = preset.ranks[i % preset.ranks.length]!;
    const d = path.join(dir, adapterDtype === "F32" ? `adapter-${i}` : `adapter-${adapterDtype.toLowerCase()}-${i}`);
    writeSyntheticAdapter(d, spec, { rank, alpha: 2 * rank, rslora: false, modules: PROJECTIONS, seed: 100 + i, dtype: adapterDtype });
    return d;
  });

  const engine = await Engine.open(path.join(dir, "model"), {
    device: options.device ?? "auto",
    threads: options.threads ?? 0,
    adapterSlots: preset.adapters + 8,
  });
  try {
    const ids: number[] = [];
    for (const d of adapterDirs) ids.push(await engine.loadAdapter(d));
    const adapterBytes = await Promise.all(ids.map(async (id) => (await engine.adapterInfo(id)).bytes));
    const info = engine.info;
    log(`device ${info.device}, ${info.kernels} kernels (${info.threads} threads)${info.deviceNote ? `: ${info.deviceNote}` : ""}; measuring memory bandwidth`);
    // The bandwidth probe runs before the modes, before each batch size's rounds and after
    // every mode's turn in a round; the fastest pass counts, like the modes' fastest rounds. A row's
    // fractions are taken against the probes of its own batch size's rounds: the bandwidth
    // a shared machine leaves to this process drifts over minutes (31 to 51 GB/s within one
    // minute here), and a decode step is compared with the machine as it was at that time.
    const probe = () => engine.measureBandwidth(preset.bandwidthBytes, preset.bandwidthRepeats);
    log(`memory bandwidth ${(await probe()).toFixed(1)} GB/s (first probe)`);
    // The compute probe: also before the modes and in every round; null where unsupported.
    const computeProbe = async (): Promise<number | null> => {
      try {
        return await engine.measureCompute(preset.computeSeconds, 2);
      } catch (e) {
        if ((e as { code?: string }).code === "UNSUPPORTED") return null;
        throw e;
      }
    };
    const firstCompute = await computeProbe();
    log(firstCompute === null ? `no compute probe on ${info.device}` : `f32 multiply-add peak ${firstCompute.toFixed(1)} GFLOP/s (first probe)`);

    // Multiply-adds of one token through the base projections and head. (An adapter's deltas
    // take one multiply-add per f32 weight it holds: its bytes / 4.)
    const q = info.numHeads * info.headDim,
      kv = info.numKvHeads * info.headDim,
      D = info.hiddenSize,
      H = info.intermediateSize;
    const baseMacs = info.numLayers * (D * q + 2 * D * kv + q * D + 3 * D * H) + info.vocabSize * D;

    const r = rng(7);
    const kvBytesPerToken = 2 * info.numLayers * info.numKvHeads * info.headDim * 4;
    const perRankBytes = adapterBytes[0]! / preset.ranks[0]!;
    const rows: BenchRow[] = [];
    const probes: BenchProbes[] = [];

    for (const batch of preset.batches) {
      // Each sample's 3 adapters, drawn without replacement.
      const picks = Array.from({ length: batch }, () => {
        const p: number[] = [];
        while (p.length < Math.min(3, ids.length)) {
          const i = Math.floor(r() * ids.length);
          if (!p.includes(i)) p.push(i);
        }
        return p;
      });
      const prompts = picks.map(() => Array.from({ length: preset.promptTokens }, () => 3 + Math.floor(r() * (info.vocabSize - 3))));

      // Every mode gets its own sequences, prefilled and warmed up; then the modes take turns
      // (rounds of decodeSteps steps each), so a change in machine load touches all of them,
      // and each mode's figure is its fastest round (the least disturbed by other processes
      // on a shared machine). "sequential" decodes one request at a time (a different
      // request each round).
      const runs = BENCH_MODES.map((mode) => {
        const strategy: Strategy = mode === "base" ? "none" : mode === "fusion" ? "fusion" : mode === "selection" ? "selection" : "mixture";
        const groups = mode === "sequential" ? picks.map((_, s) => [s]) : [picks.map((_, s) => s)];
        return {
          mode,
          strategy,
          groups,
          kernel: (mode === "dense" ? "dense" : "gather") as "dense" | "gather",
          seqs: [] as number[][],
          next: [] as number[][],
          rounds: [] as number[],
        };
      });
      const mapping = (strategy: Strategy, s: number) =>
        strategy === "none" ? [] : picks[s]!.map((i) => ({ adapter: ids[i]!, weight: 1 / picks[s]!.length }));
      const stepGroup = async (run: (typeof runs)[number], g: number, tokens: number[][]) => {
        const group = run.groups[g]!;
        const out = await engine.step(
          group.map((s, k) => ({ sequence: run.seqs[g]![k]!, tokens: tokens[k]!, strategy: run.strategy, adapters: mapping(run.strategy, s) })),
          { kernel: run.kernel },
        );
        for (const res of out.results) if (!res.ok) throw res.error;
        run.next[g] = out.results.map((x) => x.token);
      };
      for (const run of runs)
        for (let g = 0; g < run.groups.length; g++) {
          run.seqs[g] = await Promise.all(run.groups[g]!.map(() => engine.createSequence()));
          await stepGroup(
            run,
            g,
            run.groups[g]!.map((s) => prompts[s]!),
          ); // prefill
          await stepGroup(
            run,
            g,
            run.next[g]!.map((t) => [t]),
          ); // warm-up
        }
      const window: BenchProbes = { batch, memoryBandwidthGBs: await probe(), computeGflops: await computeProbe() };
      probes.push(window);
      const started = performance.now();
      let roundsRun = 0;
      for (; roundsRun < preset.rounds || (roundsRun < 4 * preset.rounds && performance.now() - started < preset.minSeconds * 1000); roundsRun++) {
        for (const run of runs) {
          const g = roundsRun % run.groups.length;
          const t0 = performance.now();
          for (let d = 0; d < preset.decodeSteps; d++)
            await stepGroup(
              run,
              g,
              run.next[g]!.map((t) => [t]),
            );
          run.rounds.push((performance.now() - t0) / 1000 / preset.decodeSteps);
          // A bandwidth probe after every mode's turn: the probe is sampled as often as a mode.
          window.memoryBandwidthGBs = Math.max(window.memoryBandwidthGBs, await probe());
        }
        const c = await computeProbe();
        if (c !== null) window.computeGflops = Math.max(window.computeGflops ?? 0, c);
      }
      for (const run of runs) for (const seqs of run.seqs) await Promise.all(seqs.map((s) => engine.freeSequence(s)));
      // What the slots hold per f32 byte of an adapter: 1, or 0.5 in 16-bit lanes (the least
      // ratio over the resident adapters, since padding to whole panels adds to small ranks).
      const held = (await Promise.all(ids.map((id) => engine.adapterInfo(id)))).filter((a) => a.residentBytes > 0);
      const stored = Math.min(1, ...held.map((a) => a.residentBytes / a.bytes));

      for (const run of runs) {
        const { mode, strategy } = run;
        // What one step reads of the adapters: each distinct adapter once (gather and dense
        // alike), or each sample's own fused adapter.
        const fusedBytes = (p: number[]) => Math.max(...p.map((i) => preset.ranks[i % preset.ranks.length]!)) * perRankBytes;
        const own = (p: number[]) => (strategy === "selection" ? [p[0]!] : strategy === "none" ? [] : p);
        const touched = new Set(picks.flatMap(own));
        const unionBytes = strategy === "fusion" ? picks.reduce((a, p) => a + fusedBytes(p), 0) : [...touched].reduce((a, i) => a + adapterBytes[i]!, 0);
        const rowBytes = (p: number[]) => (strategy === "fusion" ? fusedBytes(p) : own(p).reduce((b, i) => b + adapterBytes[i]!, 0));
        const meanOwnBytes = picks.reduce((a, p) => a + rowBytes(p), 0) / batch;
        const oneAtATime = mode === "sequential";
        const rowsPerStep = oneAtATime ? 1 : batch;
        const stepSeconds = Math.min(...run.rounds);
        const kvRead = rowsPerStep * (preset.promptTokens + 1 + (roundsRun * preset.decodeSteps) / 2) * kvBytesPerToken;
        const bytesPerStep = info.weightBytes + stored * (oneAtATime ? meanOwnBytes : unionBytes) + kvRead;
        // Arithmetic of one step: each row through its own adapters (or its fused one); dense
        // runs every row through every adapter the batch touches.
        const stepRows = oneAtATime ? [picks[0]!] : picks;
        const loraBytes = mode === "dense" ? batch * unionBytes : stepRows.reduce((a, p) => a + rowBytes(p), 0);
        const flopsPerStep = 2 * (rowsPerStep * baseMacs + loraBytes / 4);
        const row: BenchRow = {
          mode,
          batch,
          rounds: roundsRun,
          tokensPerSecond: rowsPerStep / stepSeconds,
          stepMs: stepSeconds * 1000,
          adaptersRead: oneAtATime ? own(picks[0]!).length : strategy === "fusion" ? batch : touched.size,
          bytesPerStep,
          bandwidthGBs: bytesPerStep / stepSeconds / 1e9,
          bandwidthFraction: 0, // set below, against the fastest probe of the whole run
          flopsPerStep,
          gflops: flopsPerStep / stepSeconds / 1e9,
          computeFraction: null, // likewise
        };
        rows.push(row);
        log(`${mode.padEnd(10)} batch ${String(batch).padStart(2)}: ${row.tokensPerSecond.toFixed(1)} tokens/s, ${row.stepMs.toFixed(1)} ms/step`);
      }
    }

    // The run's figures: the fastest probes of all batch sizes.
    const bandwidth = Math.max(...probes.map((p) => p.memoryBandwidthGBs));
    const compute = firstCompute === null ? null : Math.max(...probes.map((p) => p.computeGflops ?? 0));
    const windowOf = (batch: number) => probes.find((p) => p.batch === batch)!;
    for (const row of rows) {
      const w = windowOf(row.batch);
      row.bandwidthFraction = row.bandwidthGBs / w.memoryBandwidthGBs;
      row.computeFraction = w.computeGflops === null ? null : row.gflops / w.computeGflops;
    }
    log(`memory bandwidth ${bandwidth.toFixed(1)} GB/s (fastest probe of the run)`);
    if (compute !== null) log(`f32 multiply-add peak ${compute.toFixed(1)} GFLOP/s (fastest probe of the run)`);
    const at = Math.max(...preset.batches);
    const tps = (mode: BenchMode, batch: number) => rows.find((x) => x.mode === mode && x.batch === batch)!.tokensPerSecond;
    const ratios: Ratios = {
      mixtureVsSequential: tps("mixture", at) / tps("sequential", at),
      mixtureVsBase: tps("mixture", at) / tps("base", at),
      gatherVsDense: tps("mixture", at) / tps("dense", at),
      baseBandwidthFraction: rows.find((x) => x.mode === "base" && x.batch === 1)!.bandwidthFraction,
    };
    const rowAt = (mode: BenchMode) => rows.find((x) => x.mode === mode && x.batch === at)!;
    const peakAt = windowOf(at).computeGflops;
    const ceilings = {
      mixtureVsSequential: peakAt === null ? null : at / (rowAt("mixture").flopsPerStep / (peakAt * 1e9)) / tps("sequential", at),
      denseVsGatherFlops: rowAt("dense").flopsPerStep / rowAt("mixture").flopsPerStep,
    };
    const targetsMet = Object.fromEntries(Object.entries(TARGETS).map(([k, v]) => [k, ratios[k as keyof Ratios] >= v])) as Record<
      keyof typeof TARGETS,
      boolean
    >;
    return {
      preset: preset.name,
      device: info.device,
      kernels: info.kernels,
      threads: info.threads,
      model: {
        parameters: info.numParameters,
        layers: info.numLayers,
        dim: info.hiddenSize,
        hidden: info.intermediateSize,
        vocab: info.vocabSize,
        weightBytes: info.weightBytes,
        dtype: spec.dtype,
      },
      adapters: { count: ids.length, ranks: preset.ranks, modules: PROJECTIONS, dtype: adapterDtype, bytes: adapterBytes.reduce((a, b) => a + b, 0) },
      memoryBandwidthGBs: bandwidth,
      computeGflops: compute,
      probes,
      rows,
      ratios,
      ratiosAtBatch: at,
      statistic: `fastest round of ${preset.decodeSteps} decode steps, of at least ${preset.rounds} rounds${preset.minSeconds > 0 ? ` and ${preset.minSeconds} s of rounds (at most ${4 * preset.rounds})` : ""} per batch size`,
      targets: TARGETS,
      targetsMet,
      ceilings,
    };
  } finally {
    await engine.close();
  }
}
