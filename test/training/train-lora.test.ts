// `quiver train lora`: a PEFT adapter the engine serves, the same bytes from the same seed,
// and every kind of bad input refused before training starts, leaving nothing behind.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import { Engine, writeCharTokenizer, writeSyntheticModel } from "@quiver/engine";

import { runCli, tempDir } from "../../native/test/cli.js";

const root = tempDir("train-lora");
const model = path.join(root, "model");
mkdirSync(model, { recursive: true });
const vocab = writeCharTokenizer(model, { promptTemplate: "{prompt}\n" });
writeSyntheticModel(model, { vocab, dim: 32, hidden: 64, layers: 2, heads: 2, kvHeads: 1, maxPos: 64, tied: true, dtype: "F32", seed: 3 });

const data = path.join(root, "data.jsonl");
const words = ["cat", "dog", "owl", "fox", "bee", "elk", "yak", "ant"];
writeFileSync(data, words.map((w) => JSON.stringify({ input: `Shout ${w}`, answer: w.toUpperCase() })).join("\n") + "\n");

const write = (name: string, text: string) => {
  const f = path.join(root, name);
  writeFileSync(f, text);
  return f;
};

describe("quiver train lora", () => {
  test("writes a PEFT adapter that the engine loads and that learned its data; same seed, same bytes", async () => {
    const a = path.join(root, "a");
    const b = path.join(root, "b");
    const args = (out: string) => [
      "train",
      "lora",
      "--model",
      model,
      "--data",
      data,
      "--out",
      out,
      "--rank",
      "4",
      "--steps",
      "60",
      "--lr",
      "0.01",
      "--seed",
      "5",
      "--json",
    ];
    const ra = await runCli(args(a));
    expect(ra.stderr).toMatch(/step 60\/60/);
    // the default device is auto: the GPU when one answers, else the CPU, saying why
    expect(ra.stderr).toMatch(/training on (cpu \(CUDA unavailable \(.+\); training on the CPU\)|cuda)/);
    expect(ra.code).toBe(0);
    const summary = JSON.parse(ra.stdout.trim().split("\n").pop()!) as { firstLoss: number; finalLoss: number; examples: number };
    expect(summary.examples).toBe(8);
    expect(summary.finalLoss).toBeLessThan(summary.firstLoss / 4);
    expect((await runCli([...args(b), "--threads", "1"])).code).toBe(0);
    expect(readFileSync(path.join(b, "adapter_model.safetensors"))).toEqual(readFileSync(path.join(a, "adapter_model.safetensors")));
    const config = JSON.parse(readFileSync(path.join(a, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    expect(config).toMatchObject({ peft_type: "LORA", r: 4, lora_alpha: 8 });

    const engine = await Engine.open(model, { device: "cpu" });
    const id = await engine.loadAdapter(a);
    const out = await engine.generateText("Shout owl", { strategy: "selection", adapters: [{ adapter: id, weight: 1 }], maxTokens: 8 });
    await engine.close();
    expect(out.text).toBe("OWL");
  });

  test.each([
    ["malformed JSON", () => write("bad.jsonl", '{"input": "a", "answer": "b"}\n{"input": oops}\n'), [], /line 2: not valid JSON/],
    ["an empty file", () => write("empty.jsonl", ""), [], /is empty/],
    ["only blank lines", () => write("blank.jsonl", "\n\n  \n"), [], /holds no examples/],
    ["a line without an answer", () => write("noanswer.jsonl", '{"input": "a", "answer": "b"}\n{"input": "c"}\n'), [], /line 2: "answer" is missing/],
    ["a non-object line", () => write("array.jsonl", "[1, 2]\n"), [], /line 1: expected a JSON object/],
    ["rank 0", () => data, ["--rank", "0"], /rank must be an integer from 1 to 64/],
    ["rank 65", () => data, ["--rank", "65"], /rank must be an integer from 1 to 64/],
    ["0 steps", () => data, ["--steps", "0"], /steps must be an integer from 1 to 100000/],
    ["fractional steps", () => data, ["--steps", "2.5"], /steps must be an integer/],
    ["a non-numeric rank", () => data, ["--rank", "eight"], /--rank must be a number/],
    ["an unknown module", () => data, ["--modules", "q_proj,wat"], /unknown module wat/],
    ["an unknown device", () => data, ["--device", "tpu"], /unknown device tpu; choose from auto, cpu, cuda, cuda-emulated/],
    ["a weight range above 1", () => data, ["--weight-range", "0.5,2"], /weight range must satisfy/],
    [
      "a prompt longer than the context",
      () => write("long.jsonl", JSON.stringify({ input: "x".repeat(80), answer: "y" }) + "\n"),
      [],
      /more than the model's context of 64/,
    ],
    ["a missing data file", () => path.join(root, "absent.jsonl"), [], /does not exist/],
  ])("refuses %s before training, writing nothing", async (_what, file, extra, message) => {
    const out = path.join(root, `out-${Math.random().toString(36).slice(2)}`);
    const r = await runCli(["train", "lora", "--model", model, "--data", file(), "--out", out, ...extra]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/step \d+/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(out)).toBe(false);
  });

  test("an existing output folder is kept unless --force", async () => {
    const out = path.join(root, "taken");
    mkdirSync(out);
    writeFileSync(path.join(out, "keep.txt"), "mine");
    const r = await runCli(["train", "lora", "--model", model, "--data", data, "--out", out, "--steps", "2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
    expect(readFileSync(path.join(out, "keep.txt"), "utf8")).toBe("mine");
    expect((await runCli(["train", "lora", "--model", model, "--data", data, "--out", out, "--steps", "2", "--force"])).code).toBe(0);
    expect(existsSync(path.join(out, "adapter_model.safetensors"))).toBe(true);
  });

  test("usage without the required flags", async () => {
    const r = await runCli(["train", "lora", "--model", model]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage: quiver train lora/);
  });
});
