/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// `quiver eval zoo` on a fixture zoo (stories260K, random-weight adapters, 2 clusters x 2
// tasks). Each test item's answer is what the engine itself generates for it under the
// item's own adapter alone, so perfect selection must score 100 exactly; the batched,
// heterogeneous runs must equal one-sequence generations with the same adapters; concat
// must agree with mixture; --json must end stdout with every key; bad zoos give coded
// errors and exit codes.
import { cpSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { jest } from "@jest/globals";
import { Engine, type Strategy } from "@quiver/engine";
import { writeSyntheticAdapter } from "../../native/src/synthetic.js";
import { main } from "../../apps/api/src/cli/main.js";
import { loadEncoder } from "../../apps/api/src/retriever/encoder-factory.js";
import type { SentenceEncoder } from "../../apps/api/src/retriever/encoder.js";
import { COLUMNS, runZooEval, type Composition, type ZooEvalReport } from "../../apps/api/src/zoo/eval.js";
import { MODEL, tempDir } from "../helpers/pool.js";
import { storiesSkipReason } from "../helpers/stories.js";
import { FIXTURE_CLUSTERS, addZooRetrieverHead, readManifest, setZooAnswers, writeFixtureZoo, writeManifest } from "../helpers/zoo.js";

const skip = storiesSkipReason();
if (skip) console.log(`Skipping the model zoo evaluation tests: ${skip}`);
const describeZoo = skip ? describe.skip : describe;

const MAX_TOKENS = 6;

/** Runs the CLI; returns the exit code and what it printed. */
async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, "log").mockImplementation((...a: unknown[]) => void out.push(a.join(" ")));
  const error = jest.spyOn(console, "error").mockImplementation((...a: unknown[]) => void err.push(a.join(" ")));
  try {
    const code = await main(argv);
    return { code, out: out.join("\n").split("\n"), err: err.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describeZoo("quiver eval zoo on a fixture zoo", () => {
  let zoo: string;
  let engine: Engine;
  let ids: Map<string, number>;
  let encoder: SentenceEncoder;
  let report: ZooEvalReport;

  /** One sequence alone, through Engine.generateText: the reference for the batched runs. */
  const alone = async (input: string, c: Composition) =>
    (await engine.generateText(input, { strategy: c.strategy as Strategy, adapters: c.adapters.map((a) => ({ adapter: ids.get(a.task)!, weight: a.weight })), maxTokens: MAX_TOKENS })).text;

  beforeAll(async () => {
    zoo = writeFixtureZoo();
    engine = await Engine.open(path.join(zoo, "model"), { device: "cpu" });
    ids = new Map();
    for (const t of readManifest(zoo).tasks) ids.set(t.name, await engine.loadAdapter(path.join(zoo, t.adapter)));
    await setZooAnswers(zoo, async (task, input) => (await alone(input, { strategy: "selection", adapters: [{ task, weight: 1 }] })).trim());
    encoder = await loadEncoder({});
    // A batch of 5 splits the runs into several heterogeneous batches.
    report = await runZooEval({ dir: zoo, split: "test", k: 3, device: "cpu", maxTokens: MAX_TOKENS, batch: 5, encoder });
  }, 120_000);
  afterAll(async () => {
    await engine?.close();
    await encoder?.close();
    if (zoo) rmSync(zoo, { recursive: true, force: true });
  });

  test("the fixture's answers are real text, not all the same", () => {
    const answers = readManifest(zoo).tasks.flatMap((t) => t.test.map((i) => i.answer));
    expect(answers.every((a) => a.length > 0)).toBe(true);
    expect(new Set(answers).size).toBeGreaterThan(1);
  });

  test("perfect selection scores 100: batched generation with the own adapter reproduces the answers", () => {
    expect(report.average.perfect).toBe(100);
    for (const c of Object.keys(FIXTURE_CLUSTERS)) expect(report.byCluster[c]!.perfect).toBe(100);
    expect(report.items).toBe(8);
    expect(report.outcomes.every((o) => o.correct.perfect && o.outputs.perfect.trim() === o.answer)).toBe(true);
  });

  test("OOD rankings never hold the item's own adapter; IID ones rank over all four", () => {
    for (const o of report.outcomes) {
      expect(o.ood.map((r) => r.task)).not.toContain(o.task);
      expect(o.ood).toHaveLength(3);
      expect(new Set([...o.iid.map((r) => r.task)]).size).toBe(3);
      for (const c of COLUMNS.filter((c) => c.endsWith("Ood"))) expect(o.compositions[c].adapters.map((a) => a.task)).not.toContain(o.task);
    }
    expect(report.retrieval.ood.top1Task).toBe(0);
    // The samples separate the four tasks: the encoder finds each item's own task.
    expect(report.retrieval.iid.top1Task).toBeGreaterThanOrEqual(75);
  });

  test("selection with the own adapter on top is perfect selection", () => {
    const own = report.outcomes.filter((o) => o.iid[0]!.task === o.task);
    expect(own.length).toBeGreaterThan(0);
    for (const o of own) {
      expect(o.compositions.selectionIid).toEqual(o.compositions.perfect);
      expect(o.correct.selectionIid).toBe(true);
    }
  });

  test("every batched run equals the same composition generated alone", async () => {
    for (const o of report.outcomes) {
      for (const c of ["base", "selectionOod", "mixtureIid", "mixtureOod", "fusionOod", "concatOod"] as const) {
        expect([c, o.outputs[c]]).toEqual([c, await alone(o.input, o.compositions[c])]);
      }
    }
  }, 60_000);

  test("concat (fusion-cat) agrees with mixture; fusion is a different composition", () => {
    for (const o of report.outcomes) {
      expect(o.outputs.concatIid).toBe(o.outputs.mixtureIid);
      expect(o.outputs.concatOod).toBe(o.outputs.mixtureOod);
    }
    expect(report.average.concatIid).toBe(report.average.mixtureIid);
    expect(report.average.concatOod).toBe(report.average.mixtureOod);
    expect(report.outcomes.some((o) => o.outputs.fusionOod !== o.outputs.mixtureOod)).toBe(true);
  });

  test("scores are the exact matches of the outputs", () => {
    for (const o of report.outcomes) for (const c of COLUMNS) expect(o.correct[c]).toBe(o.outputs[c].trim() === o.answer);
    const math = report.outcomes.filter((o) => o.cluster === "math");
    expect(report.byCluster.math!.base).toBeCloseTo((100 * math.filter((o) => o.correct.base).length) / math.length, 9);
  });

  test("the CLI prints the table and ends stdout with the JSON contract", async () => {
    const r = await cli(["eval", "zoo", "--zoo", zoo, "--json", "--max-tokens", String(MAX_TOKENS), "--device", "cpu", "--limit", "1"]);
    expect(r.code).toBe(0);
    expect(r.out.some((l) => /^average\s/.test(l))).toBe(true);
    expect(r.out.some((l) => l.startsWith("cluster = mean of its tasks"))).toBe(true);
    const json = JSON.parse(r.out.at(-1)!);
    expect(Object.keys(json.average).sort()).toEqual([...COLUMNS].sort());
    expect(Object.keys(json.byCluster).sort()).toEqual(Object.keys(FIXTURE_CLUSTERS).sort());
    for (const s of Object.values(json.byCluster)) expect(Object.keys(s as object).sort()).toEqual([...COLUMNS].sort());
    expect(json).toMatchObject({ zoo, split: "test", k: 3, encoder: "use-lite@0.2.0", items: 4, tasks: 4, device: "cpu" });
    expect(json.average.perfect).toBe(100);
    expect(Object.keys(json.retrieval.iid).sort()).toEqual(["top1Cluster", "top1Task", "topkCluster", "topkTask"]);
    expect(typeof json.seconds).toBe("number");
    expect(r.err).toContain("eval zoo: generating");
  }, 60_000);

  test("a zoo with a retriever head retrieves through it, as the server does; QUIVER_RETRIEVER_HEAD=off leaves it out", async () => {
    const dir = tempDir("zoo-head");
    cpSync(zoo, dir, { recursive: true });
    await addZooRetrieverHead(dir);
    const argv = ["eval", "zoo", "--zoo", dir, "--json", "--max-tokens", String(MAX_TOKENS), "--device", "cpu", "--limit", "1"];
    const withHead = await cli(argv);
    expect(withHead.code).toBe(0);
    const served = JSON.parse(withHead.out.at(-1)!);
    expect(served).toMatchObject({ encoder: expect.stringMatching(/^head:[0-9a-f]{16}@use-lite@0\.2\.0$/), oodRetriever: "served" });

    // --strict-ood: OOD through heads that never saw the item's task; IID is untouched.
    const strict = await cli([...argv, "--strict-ood"]);
    expect(strict.code).toBe(0);
    expect(strict.err).toContain("--strict-ood: 4 of 4 heads trained");
    expect(strict.out).toContainEqual(expect.stringContaining("through a retriever head trained without that task (--strict-ood)"));
    const s = JSON.parse(strict.out.at(-1)!);
    expect(s).toMatchObject({ encoder: served.encoder, oodRetriever: "leave-one-out" });
    for (const c of ["base", "perfect", "selectionIid", "mixtureIid", "fusionIid", "concatIid"]) expect(s.average[c]).toBe(served.average[c]);
    expect(s.retrieval.iid).toEqual(served.retrieval.iid);

    process.env.QUIVER_RETRIEVER_HEAD = "off";
    try {
      const without = await cli([...argv, "--strict-ood"]);
      expect(without.code).toBe(0);
      expect(JSON.parse(without.out.at(-1)!)).toMatchObject({ encoder: "use-lite@0.2.0", oodRetriever: "served" });
      expect(without.err).toContain("--strict-ood: use-lite@0.2.0 has no trained head, so OOD retrieval has seen no task already");
    } finally {
      delete process.env.QUIVER_RETRIEVER_HEAD;
    }
    // A manifest naming a head folder that is not there: a coded error, nothing evaluated.
    writeManifest(dir, { ...readManifest(dir), retrieverHead: "no-such-head" });
    const missing = await cli(argv);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/ENCODER_FILE_MISSING.*no-such-head lacks head\.json/);
    expect(missing.err).not.toMatch(/\n\s+at /);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  describe("bad input: coded errors, exit codes, no stack traces", () => {
    const variant = (change: (dir: string) => void) => {
      const dir = tempDir("zoo-bad");
      cpSync(zoo, dir, { recursive: true });
      change(dir);
      return dir;
    };
    const expectError = async (argv: string[], code: number, pattern: RegExp) => {
      const r = await cli(["eval", "zoo", ...argv]);
      expect(r.code).toBe(code);
      expect(r.err).toMatch(pattern);
      expect(r.err).not.toMatch(/\n\s+at /);
    };

    test("a missing zoo folder", () =>
      expectError(["--zoo", path.join(zoo, "nope")], 1, /\[NOT_FOUND\] the zoo directory .*nope does not exist\n {2}hint: Rebuild the zoo/));

    test("a bad manifest", async () => {
      const dir = variant((d) => writeFileSync(path.join(d, "tasks.json"), "{ not json"));
      await expectError(["--zoo", dir], 1, /\[BAD_USER_INPUT\] .*tasks\.json: not valid JSON/);
      const dir2 = variant((d) => writeManifest(d, { ...readManifest(d), format: "other" }));
      await expectError(["--zoo", dir2], 1, /\[BAD_USER_INPUT\] .*format must be "quiver-zoo\/1"/);
    });

    test("a missing adapter folder", async () => {
      const dir = variant((d) => rmSync(path.join(d, "adapters", "sea-story"), { recursive: true }));
      await expectError(["--zoo", dir], 1, /\[NOT_FOUND\] task sea-story: its adapter folder .* does not exist/);
    });

    test("an adapter for another model", async () => {
      const dir = variant((d) => {
        const folder = path.join(d, "adapters", "add");
        rmSync(folder, { recursive: true });
        writeSyntheticAdapter(folder, MODEL, { rank: 4, alpha: 8, rslora: false, modules: ["q_proj", "v_proj"], seed: 3 });
      });
      await expectError(["--zoo", dir, "--device", "cpu"], 1, /\[ADAPTER_INVALID\] task add: the adapter at .* does not fit the zoo's model: \[BASE_MISMATCH\][^]*hint: Is it an adapter for/);
    });

    test("bad options", async () => {
      await expectError(["--zoo", zoo, "--split", "train"], 2, /--split must be test or validation/);
      await expectError(["--zoo", zoo, "--k", "0"], 1, /\[BAD_USER_INPUT\] --k must be a positive whole number/);
      await expectError(["--zoo", zoo, "--device", "tpu"], 2, /--device must be one of/);
    });
  });
});
