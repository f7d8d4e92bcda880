// Sampling and the generation loop: greedy, temperature with top-k / top-p, seeds that make
// runs reproducible whatever shares the batch, stop tokens, max tokens, the context limit,
// cancelling, and freeing a sequence's cache; on the fast CPU path, and on CUDA when a GPU
// answers.
import path from "node:path";

import { Engine } from "@quiver/engine";

import { describeOn } from "./backends.js";
import { tempDir } from "./cli.js";
import { SMALL, writeRandomModel } from "./fixtures.js";

const root = tempDir("sampling");
const modelDir = path.join(root, "model");
writeRandomModel(modelDir, { ...SMALL, maxPos: 48, seed: 9 });
const prompt = [1, 17, 42, 5, 77];

const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
};

for (const device of ["cpu", "cuda-emulated", "cuda"] as const)
  describeOn(device)(`sampling on ${device}`, () => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await Engine.open(modelDir, { device });
    });
    afterAll(() => engine?.close());

    const generate = async (sampling: Parameters<Engine["createSequence"]>[0], maxTokens = 20, stopTokens: number[] = []) => {
      const s = await engine.createSequence(sampling);
      const g = await engine.generate(s, prompt, { maxTokens, stopTokens });
      await engine.freeSequence(s);
      return g;
    };

    test("greedy picks the argmax of the step's logits", async () => {
      const s = await engine.createSequence();
      const out = await engine.step([{ sequence: s, tokens: prompt }], { logits: true });
      expect(out.results[0]!.token).toBe(argmax(out.logits!));
      await engine.freeSequence(s);
      const g = await generate({ temperature: 0 }, 1);
      expect(g.tokens).toEqual([argmax(out.logits!)]);
    });

    test("a seed makes sampling reproducible; another seed gives another run", async () => {
      const a = await generate({ temperature: 1.2, topP: 0.95, seed: 7 }, 30);
      const b = await generate({ temperature: 1.2, topP: 0.95, seed: 7 }, 30);
      const c = await generate({ temperature: 1.2, topP: 0.95, seed: 8 }, 30);
      expect(b.tokens).toEqual(a.tokens);
      expect(c.tokens).not.toEqual(a.tokens);
    });

    test("top-k = 1 and a tiny top-p are greedy", async () => {
      const greedy = await generate({ temperature: 0 });
      expect((await generate({ temperature: 1, topK: 1, seed: 3 })).tokens).toEqual(greedy.tokens);
      expect((await generate({ temperature: 1, topP: 1e-6, seed: 3 })).tokens).toEqual(greedy.tokens);
    });

    test("top-k samples only among the k most likely tokens", async () => {
      const s = await engine.createSequence({ temperature: 2, topK: 3, seed: 11 });
      let tokens = prompt;
      const seen = new Set<number>();
      for (let i = 0; i < 25; i++) {
        const out = await engine.step([{ sequence: s, tokens }], { logits: true });
        const top3 = Array.from(out.logits!.keys())
          .sort((x, y) => out.logits![y]! - out.logits![x]!)
          .slice(0, 3);
        const t = out.results[0]!.token;
        expect(top3).toContain(t);
        seen.add(t);
        tokens = [t];
      }
      expect(seen.size).toBeGreaterThan(1);
      await engine.freeSequence(s);
    });

    test("a sampled sequence is the same alone and in a batch", async () => {
      const run = async (mates: number) => {
        const seqs = [await engine.createSequence({ temperature: 1, topK: 20, seed: 99 })];
        for (let m = 0; m < mates; m++) seqs.push(await engine.createSequence({ temperature: 0.7, seed: m }));
        let next = seqs.map((_, i) => (i === 0 ? prompt : [2 + i, 9, 4 * i]));
        const mine: number[] = [];
        for (let k = 0; k < 12; k++) {
          const out = await engine.step(seqs.map((s, i) => ({ sequence: s, tokens: next[i]! })));
          mine.push(out.results[0]!.token);
          next = out.results.map((r) => [r.token]);
        }
        await Promise.all(seqs.map((s) => engine.freeSequence(s)));
        return mine;
      };
      expect(await run(4)).toEqual(await run(0));
    });

    test("stop tokens end the generation and are not part of it", async () => {
      const greedy = await generate({ temperature: 0 }, 10);
      const stopAt = greedy.tokens.findIndex((t, i) => greedy.tokens.indexOf(t) === i && i >= 2);
      const g = await generate({ temperature: 0 }, 10, [greedy.tokens[stopAt]!]);
      expect(g.finishReason).toBe("stop");
      expect(g.tokens).toEqual(greedy.tokens.slice(0, stopAt));
      expect(greedy.finishReason).toBe("length");
      expect(greedy.tokens).toHaveLength(10);
    });

    test("the context limit ends a generation", async () => {
      const g = await generate({ temperature: 0 }, 1000);
      expect(g.finishReason).toBe("context");
      expect(g.tokens).toHaveLength(48 - prompt.length + 1);
    });

    test("cancel stops a running generation; free drops the cache at once", async () => {
      // A long context, so the generation is still running when the third token reaches JS.
      const longDir = path.join(root, "long");
      writeRandomModel(longDir, { ...SMALL, maxPos: 8192, seed: 10 });
      const long = await Engine.open(longDir, { device });
      const s = await long.createSequence({ temperature: 1, seed: 1 });
      let n = 0;
      const g = await long.generate(s, prompt, {
        maxTokens: 8000,
        stopTokens: [],
        onToken: () => {
          if (++n === 3) long.cancelSequence(s);
        },
      });
      expect(g.finishReason).toBe("cancelled");
      expect(g.tokens.length).toBeLessThan(8000);
      const later = await long.step([{ sequence: s, tokens: [1] }]);
      expect(later.results[0]!.error?.code).toBe("CANCELLED");
      await long.freeSequence(s);
      await expect(long.sequenceLength(s)).rejects.toMatchObject({ code: "NOT_FOUND" });
      await long.close();
    });

    test("an onToken that throws cancels the generation and rejects with CALLBACK_FAILED", async () => {
      const s = await engine.createSequence();
      await expect(
        engine.generate(s, prompt, {
          maxTokens: 40,
          stopTokens: [],
          onToken: () => {
            throw new Error("consumer went away");
          },
        }),
      ).rejects.toMatchObject({ code: "CALLBACK_FAILED" });
      await engine.freeSequence(s);
    });
  });

// Non-finite logits (the engine's test-only fault hook writes them into every logits row
// before sampling): NaN or +inf fails the item with NON_FINITE, in every sampling mode;
// -inf has probability 0 and is never drawn.
describe("non-finite logits", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open(modelDir, { device: "cpu", testFaults: true });
  });
  afterAll(() => engine?.close());

  const MODES = [
    ["greedy", { temperature: 0 }],
    ["temperature", { temperature: 1, seed: 4 }],
    ["top-k", { temperature: 1, topK: 5, seed: 4 }],
    ["top-p", { temperature: 1, topP: 0.9, seed: 4 }],
  ] as const;

  test.each(MODES)("NaN and +inf logits fail the item with NON_FINITE when sampling %s; the logits still come back", async (_name, sampling) => {
    for (const value of [NaN, Infinity]) {
      await engine.setTestFaults({ logitIndex: 7, logitValue: value });
      const s = await engine.createSequence(sampling);
      const out = await engine.step([{ sequence: s, tokens: prompt }], { logits: true });
      expect(out.results[0]!.error?.code).toBe("NON_FINITE");
      expect(out.results[0]!.token).toBe(-1);
      expect(out.logits![7]).toBe(value);
      await engine.freeSequence(s);
    }
    await engine.setTestFaults({});
    const s = await engine.createSequence(sampling);
    expect((await engine.step([{ sequence: s, tokens: prompt }])).results[0]!.ok).toBe(true);
    await engine.freeSequence(s);
  });

  test("a generation whose logits turn NaN rejects with NON_FINITE", async () => {
    const s = await engine.createSequence({ temperature: 0.8, topP: 0.95, seed: 2 });
    await engine.setTestFaults({ logitIndex: 0, logitValue: NaN });
    await expect(engine.generate(s, prompt, { maxTokens: 5, stopTokens: [] })).rejects.toMatchObject({ code: "NON_FINITE" });
    await engine.setTestFaults({});
    await engine.freeSequence(s);
  });

  test("-inf logits are never drawn, greedy or sampled", async () => {
    const s = await engine.createSequence();
    const plain = await engine.step([{ sequence: s, tokens: prompt }], { logits: true });
    await engine.freeSequence(s);
    const best = argmax(plain.logits!);
    await engine.setTestFaults({ logitIndex: best, logitValue: -Infinity });
    const g = await engine.createSequence();
    const greedy = (await engine.step([{ sequence: g, tokens: prompt }], { logits: true })).results[0]!;
    expect(greedy.ok).toBe(true);
    const second = argmax(plain.logits!.map((v, i) => (i === best ? -Infinity : v)));
    expect(greedy.token).toBe(second);
    await engine.freeSequence(g);
    const seen = new Set<number>();
    for (const sampling of [{ temperature: 5 }, { temperature: 5, topK: 3 }, { temperature: 5, topP: 0.99 }]) {
      const t = await engine.createSequence({ ...sampling, seed: 5 });
      let tokens = prompt;
      for (let i = 0; i < 40; i++) {
        const r = (await engine.step([{ sequence: t, tokens }])).results[0]!;
        expect(r.ok).toBe(true);
        seen.add(r.token);
        tokens = [r.token];
      }
      await engine.freeSequence(t);
    }
    expect(seen.has(best)).toBe(false);
    expect(seen.size).toBeGreaterThan(3);
    await engine.setTestFaults({});
  });
});
