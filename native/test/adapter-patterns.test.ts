// PEFT's rank_pattern and alpha_pattern, read as PEFT reads them (peft.utils.other
// get_pattern_key, used by LoraModel._create_and_replace): each key is a regular expression,
// and a module takes the value of the first key, in the config's order, for which
// re.match(rf"(.*\.)?({key})$", name) matches its name in the base model
// ("model.layers.<i>.self_attn.q_proj"); rank and alpha are looked up separately; no key ->
// r and lora_alpha. The engine's logits are compared with the reference given the ranks and
// scalings these rules give.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

import { Engine, EngineError, loraTensorName, writeSafetensors, type Projection, type TensorToWrite } from "@quiver/engine";

import { tempDir } from "./cli.js";
import { rng, SMALL, writeRandomModel } from "./fixtures.js";
import { compare, RefSequence, type ModuleName, type RefAdapter } from "./reference.js";
import { ATOL, RTOL } from "./scenario.js";

const root = tempDir("adapter-patterns");
const modelDir = path.join(root, "model");
const model = writeRandomModel(modelDir, { ...SMALL, seed: 41 });
const c = model.config;

const SHAPES: Record<string, { proj: Projection; inn: number; out: number }> = {
  q: { proj: "q_proj", inn: c.dim, out: c.heads * c.headDim },
  k: { proj: "k_proj", inn: c.dim, out: c.kvHeads * c.headDim },
  v: { proj: "v_proj", inn: c.dim, out: c.kvHeads * c.headDim },
  down: { proj: "down_proj", inn: c.hidden, out: c.dim },
};

/** A PEFT folder with the given rank and alpha per `${layer}.${module}`; returns the reference adapter. */
function writeAdapter(dir: string, ranks: Record<string, number>, alphas: Record<string, number>, config: Record<string, unknown>): RefAdapter {
  mkdirSync(dir, { recursive: true });
  const r = rng(7);
  const tensors: TensorToWrite[] = [];
  const ref: RefAdapter = new Map();
  for (const [key, rank] of Object.entries(ranks)) {
    const [layer, m] = key.split(".") as [string, ModuleName];
    const { proj, inn, out } = SHAPES[m]!;
    const A = Float32Array.from({ length: rank * inn }, () => 0.3 * r());
    const B = Float32Array.from({ length: out * rank }, () => 0.3 * r());
    tensors.push({ name: loraTensorName(Number(layer), proj, "A"), dtype: "F32", shape: [rank, inn], data: A });
    tensors.push({ name: loraTensorName(Number(layer), proj, "B"), dtype: "F32", shape: [out, rank], data: B });
    ref.set(key, { rank, scale: alphas[key]! / rank, A, B });
  }
  writeSafetensors(path.join(dir, "adapter_model.safetensors"), tensors);
  const targets = [...new Set(Object.keys(ranks).map((k) => SHAPES[k.split(".")[1]!]!.proj))];
  writeFileSync(
    path.join(dir, "adapter_config.json"),
    JSON.stringify({ peft_type: "LORA", r: 2, lora_alpha: 8, target_modules: targets, bias: "none", ...config }),
  );
  return ref;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EngineError);
    return (err as EngineError).code;
  }
  return "no error";
}

describe("rank_pattern and alpha_pattern", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.open(modelDir, { device: "cpu" });
  });
  afterAll(() => engine?.close());

  test("keys are regular expressions matched against the whole tail of the module's name, the first match winning", async () => {
    const dir = path.join(root, "patterns");
    const ref = writeAdapter(
      dir,
      // q and k take r = 2; v (both layers) and layer 1's down their patterns' ranks.
      { "0.q": 2, "1.q": 2, "0.k": 2, "1.k": 2, "0.v": 4, "1.v": 4, "0.down": 2, "1.down": 3 },
      // down: "down_proj" (first, though layer 1's key also matches); q, v: the alternation;
      // layer 1's k: the layer key; layer 0's k: lora_alpha.
      { "0.q": 6, "1.q": 6, "0.k": 8, "1.k": 20, "0.v": 6, "1.v": 6, "0.down": 12, "1.down": 12 },
      {
        rank_pattern: {
          proj: 9, // matches no module: the key must match from a dot (or the start) to the end
          "layers\\.[01]\\.self_attn\\.v_proj": 4,
          "^model\\.layers\\.1\\.mlp\\.down_proj": 3,
        },
        alpha_pattern: { down_proj: 12, "q_proj|v_proj": 6, "model\\.layers\\.1\\..*": 20 },
      },
    );
    const id = await engine.loadAdapter(dir);
    expect((await engine.adapterInfo(id)).maxRank).toBe(4);
    const s = await engine.createSequence();
    const tokens = [3, 14, 15, 92, 65];
    const out = await engine.step([{ sequence: s, tokens, strategy: "selection", adapters: [{ adapter: id, weight: 1 }] }], { logits: true });
    const want = new RefSequence(model).forward(tokens, { adapters: [{ adapter: ref, weight: 1 }], strategy: "selection" });
    const base = new RefSequence(model).forward(tokens, { adapters: [], strategy: "none" });
    expect(compare(out.logits!, want, ATOL, RTOL).ok).toBe(true);
    expect(compare(out.logits!, base, ATOL, RTOL).ok).toBe(false);
    await engine.freeSequence(s);
  });

  test("a key that would backtrack without end in a backtracking matcher loads at once", async () => {
    // (.*.*.*)*z against a 31-character name takes a backtracking matcher longer than any test
    // runs (libstdc++'s default mode: minutes); the engine's matcher is polynomial.
    const dir = path.join(root, "hostile");
    writeAdapter(dir, { "0.q": 2, "1.q": 2 }, { "0.q": 8, "1.q": 8 }, { rank_pattern: { "(.*.*.*)*z": 5 } });
    const t0 = performance.now();
    await engine.loadAdapter(dir);
    expect(performance.now() - t0).toBeLessThan(2000);
  }, 10_000);

  test("a key that is not a regular expression, or a value that is not a rank or an alpha, is refused", async () => {
    const ranks = { "0.q": 2, "1.q": 2 };
    const alphas = { "0.q": 8, "1.q": 8 };
    const bad = (name: string, config: Record<string, unknown>) => {
      const dir = path.join(root, name);
      writeAdapter(dir, ranks, alphas, config);
      return engine.loadAdapter(dir);
    };
    expect(await codeOf(bad("unbalanced", { rank_pattern: { "q_proj(": 2 } }))).toBe("UNSUPPORTED");
    expect(await codeOf(bad("rank-value", { rank_pattern: { q_proj: 2.5 } }))).toBe("FILE_CORRUPT");
    expect(await codeOf(bad("alpha-value", { alpha_pattern: { q_proj: "8" } }))).toBe("FILE_CORRUPT");
    // A rank the pattern gives that the weights do not have.
    expect(await codeOf(bad("mismatch", { rank_pattern: { "model\\.layers\\.0\\.self_attn\\.q_proj": 4 } }))).toBe("SHAPE_MISMATCH");
  });
});
