/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// The model zoo committed in zoo/: within its size budget, its manifest exactly what the
// suite draws from the zoo's seed (so `quiver train zoo` reproduces it), its retriever head
// what training on its samples gives, a small base model with a character-level tokenizer,
// adapters that answer their tasks (a few held-out items through the paper's table), and the
// embedded default serving it: every task adapter registered and ACTIVE, retrieval through
// the zoo's head, and a retrieved mixture answering over the OpenAI-style API.
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

import { Engine } from "@quiver/engine";

import { openCatalog } from "../../apps/api/src/catalog/database.js";
import { loadEncoder } from "../../apps/api/src/retriever/encoder-factory.js";
import { runZooEval } from "../../apps/api/src/zoo/eval.js";
import { readZooManifest, zooRetrieverHead } from "../../apps/api/src/zoo/manifest.js";
import { HeadEncoder } from "../../apps/api/src/retriever/head/head-encoder.js";
import { UseLiteEncoder } from "../../apps/api/src/retriever/use-lite/use-lite-encoder.js";
import { drawTask, TASKS } from "../../apps/api/src/zoo/suite.js";
import { trainZooRetrieverHead, ZOO_DEFAULTS } from "../../apps/api/src/zoo/train-zoo.js";
import { repoRoot } from "../helpers/browser.js";
import { tempDir } from "../helpers/pool.js";
import { login, startTestServer } from "../helpers/server.js";

const ZOO = path.join(repoRoot, "zoo");
const manifest = readZooManifest(ZOO);

function bytesUnder(dir: string): number {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .reduce((n, e) => n + statSync(path.join(e.parentPath, e.name)).size, 0);
}

describe("the committed model zoo", () => {
  test("fits in 20 MB and holds 8+ clusters of 3+ tasks, one adapter each", () => {
    expect(bytesUnder(ZOO)).toBeLessThanOrEqual(20 * 1024 * 1024);
    expect(manifest.clusters.length).toBeGreaterThanOrEqual(8);
    for (const c of manifest.clusters) expect(c.tasks.length).toBeGreaterThanOrEqual(3);
    for (const t of manifest.tasks) {
      expect(statSync(path.join(ZOO, t.adapter, "adapter_model.safetensors")).size).toBeGreaterThan(0);
      expect(t.samples).toHaveLength(20);
    }
  });

  test("its items are exactly what the suite draws from its seed", () => {
    const sizes = { train: ZOO_DEFAULTS.trainExamples, validation: ZOO_DEFAULTS.validation, test: ZOO_DEFAULTS.test, samples: ZOO_DEFAULTS.samples };
    expect(manifest.tasks.map((t) => t.name)).toEqual(TASKS.map((t) => t.name));
    TASKS.forEach((task, i) => {
      const s = drawTask(task, manifest.seed * 1000 + i, sizes);
      const m = manifest.tasks[i]!;
      expect({ samples: m.samples, validation: m.validation, test: m.test }).toEqual({ samples: s.samples, validation: s.validation, test: s.test });
    });
  });

  // Byte for byte on the processor that trained it; elsewhere the sentence encoder's WASM
  // kernels (chosen by the processor's features) round the last bits differently, so the
  // retrained head must project every sample as the committed one does, to 1e-4.
  test("its retriever head is what training on its samples gives (same settings, same projections)", async () => {
    const head = zooRetrieverHead(ZOO, manifest);
    expect(head).toBe(path.join(ZOO, "retriever-head"));
    const again = path.join(tempDir("zoo-head"), "head");
    await trainZooRetrieverHead(again, manifest.tasks);
    const json = (dir: string) => {
      const m = JSON.parse(readFileSync(path.join(dir, "head.json"), "utf8")) as { training: { history: { loss: number }[] } };
      // The losses it reports agree to 6 significant digits (they differ in the last bits too).
      return { ...m, sha256: undefined, training: { ...m.training, history: m.training.history.map((h) => ({ ...h, loss: Number(h.loss.toPrecision(6)) })) } };
    };
    expect(json(again)).toEqual(json(head!));
    const base = await UseLiteEncoder.load();
    const [committed, retrained] = await Promise.all([HeadEncoder.load(head!, base), HeadEncoder.load(again, base)]);
    try {
      const { vectors } = await base.encode(manifest.tasks.flatMap((t) => t.samples));
      const [a, b] = await Promise.all([committed.project(vectors), retrained.project(vectors)]);
      let worst = 0;
      a.forEach((row, i) => row.forEach((x, j) => (worst = Math.max(worst, Math.abs(x - b[i]![j]!)))));
      expect(worst).toBeLessThan(1e-4);
    } finally {
      await Promise.all([committed.close(), retrained.close(), base.close()]);
    }
  }, 60_000);

  test("the base model: a few million parameters at most, one token per character", async () => {
    const engine = await Engine.open(path.join(ZOO, manifest.model), { device: "cpu" });
    try {
      expect(engine.info.numParameters).toBeLessThan(3_000_000);
      expect(engine.info.vocabSize).toBeLessThan(128);
      expect(engine.tokenizer!.encode("Hi, 42!")).toHaveLength(7);
    } finally {
      await engine.close();
    }
  });

  test("three held-out items per task through the paper's table: the adapters answer, the base does not", async () => {
    const encoder = await loadEncoder({ defaultHeadDir: zooRetrieverHead(ZOO, manifest) });
    try {
      expect(encoder.kind).toBe("head");
      const r = await runZooEval({ dir: ZOO, split: "test", k: 3, limit: 3, device: "cpu", batch: 64, encoder });
      expect(r.items).toBe(3 * manifest.tasks.length);
      expect(r.average.perfect).toBeGreaterThanOrEqual(75);
      expect(r.average.base).toBeLessThanOrEqual(20);
    } finally {
      await encoder.close();
    }
  }, 120_000);

  test("the embedded default serves it: every task adapter ACTIVE, and a retrieved mixture answers", async () => {
    const dataDir = tempDir("committed-zoo");
    const lines: string[] = [];
    const quiver = await startTestServer(await openCatalog({ dataDir: path.join(dataDir, "db") }), { QUIVER_ZOO: ZOO, QUIVER_DATA_DIR: dataDir, QUIVER_DEVICE: "cpu" }, { log: (l) => lines.push(l) });
    try {
      expect(await quiver.zooRegistration).toEqual({ registered: manifest.tasks.length, skipped: 0, differing: 0, failed: 0, active: manifest.tasks.length });
      expect(lines).toContainEqual(expect.stringMatching(/^\[quiver\] encoder: head:[0-9a-f]{16}@use-lite@0\.2\.0$/));
      const token = await login(quiver.api.url);
      const item = manifest.tasks.find((t) => t.cluster === "sentiment")!.test[0]!;
      const res = await fetch(`${quiver.api.url}/v1/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "auto", prompt: item.input, max_tokens: 16, temperature: 0 }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { choices: { text: string; finish_reason: string }[] };
      expect(body.choices[0]).toMatchObject({ text: item.answer, finish_reason: "stop" });
    } finally {
      await quiver.close();
    }
  }, 180_000);
});
