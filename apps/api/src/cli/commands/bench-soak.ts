// `quiver bench soak [--json] [--minutes N] [--streams N] [--model stories260K|DIR] [--tokens N]
// [--seed S] [--adapter-every S] [--sample-every S] [--heap-snapshots DIR]`: faults stay small
// and nothing is lost, over minutes. Not in CI (a plumbing test runs it for seconds).
//
// It starts `quiver serve` as a child process on the embedded default (PGlite under a
// temporary QUIVER_DATA_DIR; the model zoo, or --model), then:
//   1. uploads four synthetic adapters into the Default team (the "base set") and makes a
//      second team whose adapters come and go (the "churn team": a new adapter every
//      --adapter-every seconds, each a copy of one base-set adapter's files under a new name;
//      the copy it replaces is deleted once no stream uses it);
//   2. runs each of 24 request templates alone, once (the references): GraphQL `generate`
//      and OpenAI streamed /v1/completions, no adapter, retrieval, pinned base-set adapters
//      (selection, mixture, fusion) and pinned churn-team adapters (whose reference is the
//      base-set adapter with the same files), greedy, ignoring EOS;
//   3. keeps --streams streams going for --minutes, each a seeded draw of a template and a
//      fate: read to the end (75%), cut by the client after a random number of deltas (15%:
//      unsubscribing, dropping its WebSocket, closing its HTTP connection), or cancelled with
//      cancelGeneration (10%); meanwhile it samples the server's resident memory;
//   4. stops the server with SIGTERM (the usage outbox is written), opens its database and
//      compares: every completed stream with its reference (exact text, tokens, finish
//      reason), every cut stream's text as a prefix of it, and what was billed with what the
//      client received (completed: equal, record and usage row; cut: received <= billed <=
//      received + 32, docs/api.md).
// It prints the counts, requests/s, the memory trend (least squares over the samples after
// the warm-up, MiB per minute) and the checks; with --json, one JSON object on the last line.
// Exit 0 when every check holds, 1 otherwise (the memory trend is reported, not judged).
// --heap-snapshots DIR: the server writes a heap snapshot there after the warm-up and at the
// end of the load (SIGUSR2; each pauses it for seconds), to compare what stayed.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { convertLlama2c } from "@quiver/engine";
import { writeSyntheticAdapter } from "@quiver/engine/synthetic";
import { openCatalog } from "../../catalog/database.js";
import { billedGenerations, generationStatusCounts } from "../../catalog/generation-audit.js";
import { repoRoot } from "../../catalog/migrate.js";
import { adapterSpecOf, gql, login, uploadAdapter, type ModelConfig } from "../bench/api-client.js";
import { rssMiB, startServe, type ServeProcess } from "../bench/child-server.js";
import { compareBilling, compareCompleted, deliveredRange, rssTrend, type Reference, type RssSample } from "../bench/soak-checks.js";
import { runStream, sharedClient, type Fate, type StreamContext, type StreamRequest, type StreamResult } from "../bench/soak-streams.js";

const ADMIN = { email: "soak@quiver.local", password: "soak-password-123" };
const BASE_SEEDS = 4;
const STORY_PROMPTS = [
  "Once upon a time",
  "The little dog",
  "One day, a girl named Lily",
  "Tom and his mom went",
  "The sun was shining and",
  "A big red ball",
  "There was a bird who",
  "Sam wanted to play",
];

/** Seeded uniform numbers in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Kind = "none" | "retrieve" | "fixed" | "churn";
interface Template {
  api: "graphql" | "openai";
  kind: Kind;
  prompt: string;
  strategy: "NONE" | "SELECTION" | "MIXTURE" | "FUSION";
  /** Base-set seeds of the pinned adapters (fixed: those adapters; churn: the churn team's live copies of them). */
  seeds: number[];
}

function templates(prompts: string[], rng: () => number): Template[] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rng() * xs.length)]!;
  const two = () => {
    const a = Math.floor(rng() * BASE_SEEDS);
    return [a, (a + 1 + Math.floor(rng() * (BASE_SEEDS - 1))) % BASE_SEEDS];
  };
  const graphql: [Kind, Template["strategy"], () => number[]][] = [
    ["none", "NONE", () => []],
    ["retrieve", "MIXTURE", () => []],
    ["fixed", "SELECTION", () => [Math.floor(rng() * BASE_SEEDS)]],
    ["fixed", "MIXTURE", two],
    ["fixed", "FUSION", two],
    ["churn", "SELECTION", () => [Math.floor(rng() * BASE_SEEDS)]],
    ["churn", "MIXTURE", two],
    ["churn", "FUSION", two],
  ];
  const openai: [Kind, Template["strategy"], () => number[]][] = [
    ["none", "NONE", () => []],
    ["retrieve", "MIXTURE", () => []],
    ["fixed", "SELECTION", () => [Math.floor(rng() * BASE_SEEDS)]],
    ["churn", "SELECTION", () => [Math.floor(rng() * BASE_SEEDS)]],
  ];
  const out: Template[] = [];
  for (let round = 0; round < 2; round++) {
    for (const [kind, strategy, seeds] of graphql) out.push({ api: "graphql", kind, strategy, seeds: seeds(), prompt: pick(prompts) });
    for (const [kind, strategy, seeds] of openai) out.push({ api: "openai", kind, strategy, seeds: seeds(), prompt: pick(prompts) });
  }
  return out;
}

interface Adapter {
  id: string;
  name: string;
  seed: number;
}

interface Finished {
  template: number;
  fate: Fate["kind"];
  result: StreamResult;
  /** Seconds since the load began. */
  at: number;
}

function fmt(n: number, digits = 1): string {
  return n.toFixed(digits);
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: "boolean", default: false },
      minutes: { type: "string", default: "4" },
      streams: { type: "string", default: "256" },
      model: { type: "string" },
      tokens: { type: "string", default: "48" },
      seed: { type: "string", default: "1" },
      "adapter-every": { type: "string", default: "3" },
      "sample-every": { type: "string", default: "5" },
      "heap-snapshots": { type: "string" },
    },
  });
  const minutes = Number(values.minutes),
    streams = Number(values.streams),
    tokens = Number(values.tokens),
    seed = Number(values.seed);
  const adapterEvery = Number(values["adapter-every"]);
  const loadS = minutes * 60;
  const sampleEvery = Math.min(Number(values["sample-every"]), Math.max(0.5, loadS / 10));
  if (
    !(minutes > 0 && minutes <= 600) ||
    !Number.isInteger(streams) ||
    streams < 1 ||
    streams > 2048 ||
    !Number.isInteger(tokens) ||
    tokens < 2 ||
    tokens > 256 ||
    !Number.isInteger(seed) ||
    !(adapterEvery >= 0.5) ||
    !(sampleEvery > 0)
  ) {
    console.error(
      "quiver bench soak: --minutes takes a number in (0, 600], --streams an integer in 1..2048, --tokens 2..256, --seed an integer, --adapter-every and --sample-every seconds (>= 0.5)",
    );
    return 2;
  }
  const say = (line: string) => console.log(line);
  const began = performance.now();
  const progress = (line: string) => console.error(`[soak +${fmt((performance.now() - began) / 1000)} s] ${line}`);
  const work = mkdtempSync(path.join(os.tmpdir(), "quiver-bench-soak-"));
  let server: ServeProcess | undefined;
  try {
    // --- The model, its prompts, the server ---------------------------------------------
    let modelDir: string;
    let modelLabel: string;
    let prompts: string[];
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env))
      if (v !== undefined && !["QUIVER_MODEL", "QUIVER_ZOO", "QUIVER_DATA_DIR", "DATABASE_URL", "NATS_URL", "NODE_OPTIONS", "PORT"].includes(k)) env[k] = v;
    if (!values.model) {
      const zoo = path.join(repoRoot, "zoo");
      if (!existsSync(path.join(zoo, "tasks.json"))) {
        console.error(`quiver bench soak: no model zoo at ${zoo}; pass --model stories260K or --model DIR`);
        return 2;
      }
      modelDir = path.join(zoo, "model");
      modelLabel = "the model zoo (zoo/model, 24 task adapters)";
      const tasks = (JSON.parse(readFileSync(path.join(zoo, "tasks.json"), "utf8")) as { tasks: { samples: string[] }[] }).tasks;
      prompts = tasks.flatMap((t) => t.samples.slice(0, 2)).filter((p) => p.length <= 60);
    } else {
      if (values.model === "stories260K") {
        const stories = path.resolve(repoRoot, "..", "shared", "models", "stories260K");
        modelDir = path.join(work, "stories260K");
        convertLlama2c(path.join(stories, "stories260K.bin"), path.join(stories, "tok512.bin"), modelDir);
      } else modelDir = path.resolve(values.model);
      modelLabel = values.model;
      prompts = STORY_PROMPTS;
      env.QUIVER_MODEL = modelDir;
      env.QUIVER_ZOO = "off";
    }
    const cfg = JSON.parse(readFileSync(path.join(modelDir, "config.json"), "utf8")) as ModelConfig;
    if (cfg.max_position_embeddings !== undefined && tokens + 64 > cfg.max_position_embeddings) {
      console.error(`quiver bench soak: --tokens ${tokens} leaves too little of the model's context (${cfg.max_position_embeddings}) for a prompt`);
      return 2;
    }
    Object.assign(env, {
      PORT: "0",
      HOST: "127.0.0.1",
      QUIVER_WEB: "off",
      QUIVER_DATA_DIR: path.join(work, "data"),
      QUIVER_ADMIN_EMAIL: ADMIN.email,
      QUIVER_ADMIN_PASSWORD: ADMIN.password,
      // Every stream waits in the queue rather than being refused OVERLOADED.
      QUIVER_MAX_QUEUE: String(Math.max(512, streams * 4)),
    });
    // For finding a leak: the server writes a heap snapshot on SIGUSR2 into this folder.
    const snapshotDir = values["heap-snapshots"] ? path.resolve(values["heap-snapshots"]) : undefined;
    if (snapshotDir) {
      mkdirSync(snapshotDir, { recursive: true });
      env.NODE_OPTIONS = `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshotDir}`;
    }
    progress(`starting quiver serve (${modelLabel})`);
    server = await startServe(env);
    const url = server.url;
    if (!values.model) {
      progress("the server listens; waiting for the zoo's adapters");
      await server.waitFor(/\[quiver\] zoo: \d+ adapters registered \(/, 180_000);
    }
    const token = await login(url, ADMIN.email, ADMIN.password);
    const q = <T>(query: string, variables: Record<string, unknown> = {}) => gql<T>(url, query, variables, token);
    const defaultTeam = (await q<{ teams: { id: string; name: string }[] }>(`{ teams { id name } }`)).teams[0]!.id;
    const churnTeam = (await q<{ createTeam: { id: string } }>(`mutation { createTeam(name: "Soak churn", slug: "soak-churn") { id } }`)).createTeam.id;
    const waitActive = async (id: string) => {
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        const a = (
          await q<{ adapter: { status: string; statusReason: string | null } | null }>(`query($id: ID!) { adapter(id: $id) { status statusReason } }`, { id })
        ).adapter;
        if (a?.status === "ACTIVE") return;
        if (a?.status === "FAILED") throw new Error(`adapter ${id} FAILED: ${a.statusReason}`);
      }
      throw new Error(`adapter ${id} did not become ACTIVE in 60 s`);
    };

    // --- The base set and the first churn-team copies ------------------------------------
    const spec = adapterSpecOf(cfg);
    const baseDirs: string[] = [];
    const base: Adapter[] = [];
    for (let s = 0; s < BASE_SEEDS; s++) {
      const dir = path.join(work, `base-${s}`);
      writeSyntheticAdapter(dir, spec, {
        rank: 8,
        alpha: 16,
        rslora: false,
        modules: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        seed: 500 + s,
      });
      baseDirs.push(dir);
      const name = `soak-base-${s}`;
      base.push({
        id: await uploadAdapter(url, token, {
          name,
          samples: Array.from({ length: 10 }, (_, k) => `Soak base ${s}: ${prompts[(s * 10 + k) % prompts.length]} (${k})`),
          dir,
        }),
        name,
        seed: s,
      });
    }
    for (const a of base) await waitActive(a.id);
    let churnCount = 0;
    const churnDeleteErrors: string[] = [];
    const uploadChurn = async (s: number): Promise<Adapter> => {
      const name = `soak-churn-${churnCount++}`;
      const id = await uploadAdapter(url, token, {
        name,
        teamId: churnTeam,
        samples: Array.from({ length: 10 }, (_, k) => `Churn ${name}, sample ${k}: ${prompts[k % prompts.length]}`),
        dir: baseDirs[s]!,
      });
      await waitActive(id);
      return { id, name, seed: s };
    };
    progress("base set and first churn-team adapters active; running the references");
    const live: Adapter[] = [];
    for (let s = 0; s < BASE_SEEDS; s++) live.push(await uploadChurn(s));

    // --- References: each template alone --------------------------------------------------
    const rng = mulberry32(seed);
    const plan = templates(prompts, rng);
    const shared = Array.from({ length: Math.min(16, Math.ceil(streams / 16)) }, () => sharedClient(url, token));
    const ctx = (i: number): StreamContext => ({
      url,
      token,
      shared: shared[i % shared.length]!,
      cancel: async (id) => void (await q(`mutation($id: ID!) { cancelGeneration(id: $id) { id } }`, { id })),
    });
    const requestOf = (t: Template, adapters: Adapter[], teamId: string): StreamRequest =>
      t.api === "graphql"
        ? { api: "graphql", prompt: t.prompt, maxTokens: tokens, teamId, strategy: t.strategy, adapterIds: adapters.map((a) => a.id) }
        : {
            api: "openai",
            prompt: t.prompt,
            maxTokens: tokens,
            teamId,
            model: t.kind === "none" ? "base" : t.kind === "retrieve" ? "auto" : adapters[0]!.name,
          };
    const references: Reference[] = [];
    for (const [i, t] of plan.entries()) {
      const request = requestOf(
        t,
        t.seeds.map((s) => base[s]!),
        defaultTeam,
      );
      const r = await runStream(ctx(i), request, { kind: "complete" });
      if (r.outcome !== "completed" || r.finalTokens === undefined || !r.finishReason)
        throw new Error(`reference ${i} (${t.api} ${t.kind} ${t.strategy}) did not complete: ${r.outcome} ${r.error ?? ""}`);
      let tokensAt = r.tokensAt.length === r.deltas ? r.tokensAt : r.deltas === r.finalTokens ? r.deltaEnds.map((_, k) => k + 1) : undefined;
      if (!tokensAt) {
        // GraphQL deltas do not say how many tokens they carry, and some tokens have no text
        // (held back until the next delta). Greedy runs of the same request cut at every
        // length m say it: a delta ending at character L carried the tokens up to the
        // shortest run whose text reaches L.
        const lengths = await Promise.all(
          Array.from({ length: r.finalTokens }, (_, m) => runStream(ctx(m), { ...request, maxTokens: m + 1 }, { kind: "complete" })),
        );
        const at = lengths.map((x, m) => {
          if (x.outcome !== "completed" || !r.text.startsWith(x.text))
            throw new Error(`reference ${i} cut at ${m + 1} tokens is not a prefix of it: ${x.outcome} ${x.error ?? JSON.stringify(x.text)}`);
          return x.text.length;
        });
        tokensAt = r.deltaEnds.map((end) => at.findIndex((len) => len >= end) + 1);
      }
      references.push({ text: r.text, tokens: r.finalTokens, finishReason: r.finishReason, deltaEnds: r.deltaEnds, tokensAt });
    }
    progress(`${plan.length} references done; ${streams} streams for ${minutes} min`);

    // --- The load -----------------------------------------------------------------------
    const inUse = new Map<string, number>();
    const retired: Adapter[] = [];
    const use = (as: Adapter[], by: number) => as.forEach((a) => inUse.set(a.id, (inUse.get(a.id) ?? 0) + by));
    let deleted = 0;
    const sweep = async () => {
      for (const a of [...retired]) {
        if ((inUse.get(a.id) ?? 0) > 0) continue;
        retired.splice(retired.indexOf(a), 1);
        inUse.delete(a.id);
        try {
          await q(`mutation($id: ID!) { deleteAdapter(id: $id) }`, { id: a.id });
          deleted++;
        } catch (err) {
          churnDeleteErrors.push((err as Error).message.slice(0, 300));
        }
      }
    };
    const samples: RssSample[] = [];
    const t0 = performance.now();
    const elapsedS = () => (performance.now() - t0) / 1000;
    const sample = () => {
      const v = rssMiB(server!.proc.pid!);
      if (v !== undefined) samples.push({ t: elapsedS(), rssMiB: Math.round(v * 10) / 10 });
    };
    sample();
    const sampler = setInterval(sample, sampleEvery * 1000);
    const deadline = t0 + loadS * 1000;
    const warmupS = Math.min(60, loadS / 4);
    const snapshot = async (name: string) => {
      if (!snapshotDir) return;
      const before = new Set(readdirSync(snapshotDir));
      server!.proc.kill("SIGUSR2");
      for (let last = -1, end = Date.now() + 300_000; Date.now() < end; await new Promise((r) => setTimeout(r, 1000))) {
        const file = readdirSync(snapshotDir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
        if (!file) continue;
        const size = statSync(path.join(snapshotDir, file)).size;
        if (size > 0 && size === last) {
          renameSync(path.join(snapshotDir, file), path.join(snapshotDir, `${name}.heapsnapshot`));
          progress(`heap snapshot ${name} written (${Math.round(size / 2 ** 20)} MiB)`);
          return;
        }
        last = size;
      }
      progress(`heap snapshot ${name}: none written in 300 s`);
    };
    const firstSnapshot = new Promise<void>((resolve) => setTimeout(() => void snapshot(`after-warmup-${Math.round(warmupS)}s`).then(resolve), warmupS * 1000));
    const churnErrors: string[] = [];
    const churn = (async () => {
      let n = 0;
      while (performance.now() < deadline) {
        const next = performance.now() + adapterEvery * 1000;
        try {
          const s = n++ % BASE_SEEDS;
          const fresh = await uploadChurn(s);
          const old = live.findIndex((a) => a.seed === s);
          retired.push(live[old]!);
          live[old] = fresh;
        } catch (err) {
          churnErrors.push((err as Error).message.slice(0, 300));
        }
        await sweep();
        await new Promise((r) => setTimeout(r, Math.max(0, Math.min(next, deadline) - performance.now())));
      }
    })();
    const finished: Finished[] = [];
    let lastReport = performance.now();
    const slot = async (k: number) => {
      const draw = mulberry32(seed * 100_003 + k + 1);
      while (performance.now() < deadline) {
        const ti = Math.floor(draw() * plan.length);
        const t = plan[ti]!;
        const u = draw();
        const after = Math.floor(draw() * tokens);
        const fate: Fate = u < 0.15 ? { kind: "disconnect", after, socket: draw() < 0.5 } : u < 0.25 ? { kind: "cancel", after } : { kind: "complete" };
        const adapters = t.kind === "churn" ? t.seeds.map((s) => live.find((a) => a.seed === s)!) : t.seeds.map((s) => base[s]!);
        use(adapters, 1);
        try {
          const result = await runStream(ctx(k), requestOf(t, adapters, t.kind === "churn" ? churnTeam : defaultTeam), fate);
          finished.push({ template: ti, fate: fate.kind, result, at: elapsedS() });
        } finally {
          use(adapters, -1);
        }
        if (performance.now() - lastReport > 30_000) {
          lastReport = performance.now();
          progress(`${Math.round(elapsedS())} s: ${finished.length} streams finished, RSS ${samples.at(-1)?.rssMiB ?? "?"} MiB`);
        }
      }
    };
    await Promise.all(Array.from({ length: streams }, (_, k) => slot(k)));
    const loadSeconds = elapsedS();
    clearInterval(sampler);
    sample();
    await churn;
    await sweep();
    await Promise.all(shared.map((c) => c.dispose()));
    if (snapshotDir) {
      await firstSnapshot;
      await snapshot(`end-of-load-${Math.round(loadSeconds)}s`);
    }

    // --- Stop the server (SIGTERM) and read what it billed ----------------------------------
    progress(`load done in ${fmt(loadSeconds)} s; stopping the server`);
    server.proc.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([server.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 120_000)))]).finally(() =>
      clearTimeout(timer),
    );
    if (!exit) throw new Error("quiver serve did not exit within 120 s of SIGTERM");
    if (exit.code !== 0) progress(`quiver serve exited ${exit.code ?? exit.signal} after SIGTERM; its last lines:\n${server.log.slice(-15).join("\n")}`);
    const catalog = await openCatalog({ dataDir: path.join(work, "data", "db") });
    const ids = finished.flatMap((f) => (f.result.generationId ? [f.result.generationId] : []));
    const billed = await billedGenerations(catalog.prisma, ids);
    const statuses = await generationStatusCounts(catalog.prisma);
    await catalog.close();

    // --- Checks ---------------------------------------------------------------------------
    const counts = { completed: 0, cancelled: 0, disconnected: 0, errors: 0 };
    const exact = { checked: 0, mismatches: 0, examples: [] as string[] };
    const prefix = { checked: 0, mismatches: 0, examples: [] as string[] };
    const usage = {
      completedDeliveredTokens: 0,
      completedBilledTokens: 0,
      completedRecordTokens: 0,
      completedChecked: 0,
      completedMismatches: 0,
      cutChecked: 0,
      cutWithinBounds: 0,
      cutRacedToDone: 0,
      missingRecords: 0,
      examples: [] as string[],
    };
    const errorKinds = new Map<string, number>();
    const errorExamples: string[] = [];
    let receivedTokens = 0;
    const note = (list: string[], s: string) => list.length < 5 && list.push(s);
    for (const f of finished) {
      const r = f.result,
        ref = references[f.template]!,
        t = plan[f.template]!;
      const label = `${t.api} ${t.kind} ${t.strategy} (template ${f.template}, ${f.fate}${r.generationId ? `, ${r.generationId}` : ""})`;
      if (r.outcome === "error") {
        counts.errors++;
        const key = (r.error ?? "?").replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, "<id>").slice(0, 160);
        errorKinds.set(key, (errorKinds.get(key) ?? 0) + 1);
        const b = r.generationId ? billed.get(r.generationId) : undefined;
        note(
          errorExamples,
          `${label}: ${r.error}; ${r.deltas} deltas received; ${b ? `record ${b.status} / ${b.finishReason}, ${b.recordTokens} tokens` : "no record"}`,
        );
        continue;
      }
      if (r.outcome === "completed") counts.completed++;
      else if (r.outcome === "cancelled") counts.cancelled++;
      else counts.disconnected++;
      if (r.outcome === "completed") {
        exact.checked++;
        const p = compareCompleted(ref, r);
        if (p.length) {
          exact.mismatches++;
          note(exact.examples, `${label}: ${p.join("; ")}`);
        }
      } else {
        prefix.checked++;
        const d = deliveredRange(ref, r);
        if ("problem" in d) {
          prefix.mismatches++;
          note(prefix.examples, `${label}: ${d.problem}`);
        }
      }
      const range = r.outcome === "completed" ? undefined : deliveredRange(ref, r);
      receivedTokens += r.outcome === "completed" ? (r.finalTokens ?? 0) : range && !("problem" in range) ? range.lo : r.deltas;
      const b = r.generationId ? billed.get(r.generationId) : undefined;
      if (!b) {
        usage.missingRecords++;
        note(usage.examples, `${label}: no record`);
        continue;
      }
      const problems = compareBilling(ref, r, b);
      if (r.outcome === "completed") {
        usage.completedChecked++;
        usage.completedDeliveredTokens += r.finalTokens ?? 0;
        usage.completedBilledTokens += b.usageTokens ?? 0;
        usage.completedRecordTokens += b.recordTokens;
        if (problems.length) usage.completedMismatches++;
      } else {
        usage.cutChecked++;
        if (!problems.length) usage.cutWithinBounds++;
        if (b.status === "DONE") usage.cutRacedToDone++;
      }
      if (problems.length) note(usage.examples, `${label}: ${problems.join("; ")}`);
    }
    const rss = { ...rssTrend(samples, warmupS), warmupS: Math.round(warmupS), everyS: sampleEvery, series: samples };
    const unfinishedRecords = (statuses.QUEUED ?? 0) + (statuses.PREFILL ?? 0) + (statuses.DECODE ?? 0);
    const ok =
      counts.errors === 0 &&
      exact.mismatches === 0 &&
      prefix.mismatches === 0 &&
      usage.missingRecords === 0 &&
      usage.completedMismatches === 0 &&
      usage.cutWithinBounds === usage.cutChecked &&
      usage.completedBilledTokens === usage.completedDeliveredTokens &&
      unfinishedRecords === 0 &&
      exit.code === 0 &&
      churnErrors.length === 0 &&
      churnDeleteErrors.length === 0;
    const report = {
      model: modelLabel,
      streams,
      minutes,
      seed,
      tokens,
      templates: plan.length,
      loadSeconds: Math.round(loadSeconds * 10) / 10,
      requests: finished.length,
      requestsPerS: Math.round((finished.length / loadSeconds) * 10) / 10,
      /** Streams finished in each minute of the load (a slowdown over time shows here). */
      requestsPerMinute: Array.from({ length: Math.ceil(loadSeconds / 60) }, (_, m) => finished.filter((f) => f.at >= m * 60 && f.at < (m + 1) * 60).length),
      receivedTokensPerS: Math.round(receivedTokens / loadSeconds),
      counts,
      errors: Object.fromEntries(errorKinds),
      errorExamples,
      exact,
      cutPrefix: prefix,
      usage,
      records: statuses,
      adapters: { uploaded: churnCount, deleted, uploadErrors: churnErrors, deleteErrors: churnDeleteErrors },
      rss,
      serverExit: exit.code ?? exit.signal,
      ok,
    };

    say(
      `bench soak: ${modelLabel}; ${streams} streams for ${minutes} min, ${tokens} tokens each (greedy, EOS ignored), seed ${seed}; ${plan.length} request templates (GraphQL and OpenAI)`,
    );
    say(
      `streams finished   ${finished.length} in ${fmt(loadSeconds)} s: ${fmt(report.requestsPerS)} requests/s, ${report.receivedTokensPerS} tokens/s received`,
    );
    say(`  per minute: ${report.requestsPerMinute.join(", ")}`);
    say(`  completed ${counts.completed}, cancelled ${counts.cancelled}, disconnected ${counts.disconnected}, errors ${counts.errors}`);
    for (const [k, n] of errorKinds) say(`  error x${n}: ${k}`);
    say(
      `exact              ${exact.checked - exact.mismatches}/${exact.checked} completed streams equal their reference; ${prefix.checked - prefix.mismatches}/${prefix.checked} cut streams a prefix of it`,
    );
    say(
      `usage = delivery   completed: ${usage.completedDeliveredTokens} tokens received, ${usage.completedBilledTokens} in usage rows, ${usage.completedRecordTokens} in records (${usage.completedChecked - usage.completedMismatches}/${usage.completedChecked} exact)`,
    );
    say(
      `                   cut: ${usage.cutWithinBounds}/${usage.cutChecked} billed within [received, received + 32] (${usage.cutRacedToDone} had finished before the cut reached the server); records without a stream's id: ${usage.missingRecords}`,
    );
    say(
      `records            ${Object.entries(statuses)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
    );
    say(`adapters           ${churnCount} uploaded into the churn team, ${deleted} deleted, ${churnErrors.length + churnDeleteErrors.length} errors`);
    say(
      `server RSS         ${rss.startMiB} MiB after the ${rss.warmupS} s warm-up, ${rss.endMiB} MiB at the end, max ${rss.maxMiB}; slope ${rss.slopeMiBPerMin} MiB/min (${rss.samples} samples every ${sampleEvery} s; second half ${rss.secondHalfSlopeMiBPerMin} MiB/min)`,
    );
    for (const e of [...errorExamples, ...exact.examples, ...prefix.examples, ...usage.examples, ...churnErrors.slice(0, 3), ...churnDeleteErrors.slice(0, 3)])
      say(`  ! ${e}`);
    say(ok ? "ok" : "FAILED");
    if (values.json) console.log(JSON.stringify(report));
    return ok ? 0 : 1;
  } finally {
    if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
      server.proc.kill("SIGKILL");
      await server.exited;
    }
    rmSync(work, { recursive: true, force: true });
  }
}
