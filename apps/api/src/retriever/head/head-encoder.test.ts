/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { HeadEncoder, readHead, readHeadManifest, saveHead } from "./head-encoder.js";
import { encoderConfigFromEnv, loadEncoder } from "../encoder-factory.js";
import { applyHead } from "./head-model.js";
import { trainHead, DEFAULT_HEAD_CONFIG, type TaskVectors } from "./train-head.js";
import { UseLiteEncoder } from "../use-lite/use-lite-encoder.js";
import { RetrieverErrorCode } from "../errors.js";
import { dot, norm } from "../vector-math.js";

const tasks: Record<string, string[]> = {
  sentiment: [
    "I loved this movie, what a delight.",
    "Terrible service, never again.",
    "The food was great and cheap.",
    "What a boring and slow film.",
    "Absolutely fantastic concert last night.",
  ],
  translate: [
    "Translate to French: good morning.",
    "Translate to German: where is the station?",
    "Translate to Spanish: I like apples.",
    "Translate to French: the cat sleeps.",
    "Translate to German: see you tomorrow.",
  ],
  qa: [
    "Who wrote Hamlet?",
    "What is the capital of Peru?",
    "When did the Second World War end?",
    "How tall is Mount Everest?",
    "Which planet is closest to the sun?",
  ],
};

describe("trained head: export to ONNX, run with onnxruntime", () => {
  let base: UseLiteEncoder;
  let data: TaskVectors[];
  let dir: string;
  beforeAll(async () => {
    base = await UseLiteEncoder.load();
    data = [];
    for (const [task, samples] of Object.entries(tasks)) data.push({ task, vectors: (await base.encode(samples)).vectors });
    dir = mkdtempSync(path.join(tmpdir(), "quiver-head-"));
  });
  afterAll(async () => {
    await base.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("training is deterministic for a seed and lowers the loss", () => {
    const cfg = { ...DEFAULT_HEAD_CONFIG, rank: 4, steps: 30 };
    const a = trainHead(data, cfg);
    const b = trainHead(data, cfg);
    expect(Array.from(a.params.b)).toEqual(Array.from(b.params.b));
    expect(Array.from(a.params.s)).toEqual(Array.from(b.params.s));
    expect(a.history.at(-1)!.loss).toBeLessThan(a.history[0]!.loss);
    const c = trainHead(data, { ...cfg, seed: 2 });
    expect(Array.from(c.params.a)).not.toEqual(Array.from(a.params.a));
  });

  test("the ONNX head matches the plain forward pass to 1e-6, for rank 0 and rank 4", async () => {
    for (const rank of [0, 4]) {
      const head = trainHead(data, { ...DEFAULT_HEAD_CONFIG, rank, steps: 30 });
      const folder = path.join(dir, `rank${rank}`);
      saveHead(folder, head, base.identity);
      const enc = await HeadEncoder.load(folder, base);
      try {
        expect(enc.identity).toMatch(new RegExp(`^head:[0-9a-f]{16}@${base.identity.replace(/[.+]/g, "\\$&")}$`));
        expect(enc.kind).toBe("head");
        expect(enc.dimension).toBe(512);
        const texts = ["Translate to Italian: thank you.", "This book was dull."];
        const { vectors: frozen } = await base.encode(texts);
        const want = applyHead(head.params, frozen);
        const got = (await enc.encode(texts)).vectors;
        got.forEach((v, i) => {
          expect(norm(v)).toBeCloseTo(1, 5);
          v.forEach((x, j) => expect(Math.abs(x - want[i]![j]!)).toBeLessThan(1e-6));
        });
        // The head changed something (it is not the identity).
        expect(dot(got[0]!, frozen[0]!)).toBeLessThan(0.9999);
      } finally {
        await enc.close();
      }
    }
  });

  test("a missing file, a changed model or another base encoder give coded errors", async () => {
    const head = trainHead(data, { ...DEFAULT_HEAD_CONFIG, steps: 5 });
    const folder = path.join(dir, "checks");
    saveHead(folder, head, base.identity);
    expect(() => readHead(folder, { identity: "use-lite@9.9.9", dimension: 512 })).toThrow(
      expect.objectContaining({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH }),
    );
    const onnx = readFileSync(path.join(folder, "head.onnx"));
    onnx[onnx.length - 1] = onnx[onnx.length - 1]! ^ 1;
    writeFileSync(path.join(folder, "head.onnx"), onnx);
    expect(() => readHead(folder, base)).toThrow(expect.objectContaining({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH }));
    unlinkSync(path.join(folder, "head.json"));
    await expect(HeadEncoder.load(folder, base)).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISSING });
  });

  test("too little training data is a coded error", () => {
    expect(() => trainHead(data.slice(0, 1))).toThrow(expect.objectContaining({ code: RetrieverErrorCode.TRAINING_DATA_INVALID }));
    expect(() => trainHead([{ task: "a", vectors: data[0]!.vectors.slice(0, 1) }, data[1]!])).toThrow(
      expect.objectContaining({ code: RetrieverErrorCode.TRAINING_DATA_INVALID }),
    );
  });

  test("a default head (the served zoo's) runs only when nothing else is configured and it fits the encoder", async () => {
    const head = trainHead(data, { ...DEFAULT_HEAD_CONFIG, steps: 5 });
    const folder = path.join(dir, "default");
    saveHead(folder, head, base.identity);
    expect(readHeadManifest(folder)).toEqual(readHead(folder, base).manifest);
    expect(readHeadManifest(folder).base).toBe(base.identity);
    const defaults = { headDir: folder };

    // Unset: the default applies. "off": no head. A folder: that one, the default ignored.
    expect(encoderConfigFromEnv({}, defaults)).toMatchObject({ headDir: undefined, defaultHeadDir: folder });
    expect(encoderConfigFromEnv({ QUIVER_RETRIEVER_HEAD: "off" }, defaults)).toMatchObject({ headDir: undefined, defaultHeadDir: undefined });
    expect(encoderConfigFromEnv({ QUIVER_RETRIEVER_HEAD: "/heads/h" }, defaults)).toMatchObject({ headDir: "/heads/h", defaultHeadDir: undefined });
    expect(encoderConfigFromEnv({})).toMatchObject({ headDir: undefined, defaultHeadDir: undefined });

    const lines: string[] = [];
    const withHead = await loadEncoder(encoderConfigFromEnv({}, defaults), (l) => lines.push(l));
    try {
      expect(withHead.kind).toBe("head");
      expect(withHead.identity).toBe(`head:${readHead(folder, base).manifest.sha256.slice(0, 16)}@${base.identity}`);
    } finally {
      await withHead.close();
    }
    const off = await loadEncoder(encoderConfigFromEnv({ QUIVER_RETRIEVER_HEAD: "off" }, defaults));
    try {
      expect(off.identity).toBe(base.identity);
    } finally {
      await off.close();
    }
    // With a prefix the encoder is another one: the default head is left out, and the log says why.
    const prefixed = await loadEncoder(encoderConfigFromEnv({ QUIVER_ENCODER_PREFIX: "task: " }, defaults), (l) => lines.push(l));
    try {
      expect(prefixed.kind).not.toBe("head");
      expect(lines).toEqual([
        expect.stringContaining(`was trained on ${base.identity}, not on the configured ${prefixed.identity}: retrieval runs without a head`),
      ]);
    } finally {
      await prefixed.close();
    }
    // A head named explicitly must fit: the same mismatch is an error there.
    await expect(loadEncoder({ prefix: "task: ", headDir: folder })).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISMATCH });
    // A default head folder that lost its manifest stops the start rather than being skipped.
    const broken = path.join(dir, "broken");
    saveHead(broken, head, base.identity);
    unlinkSync(path.join(broken, "head.json"));
    await expect(loadEncoder({ defaultHeadDir: broken })).rejects.toMatchObject({ code: RetrieverErrorCode.ENCODER_FILE_MISSING });
  });
});
