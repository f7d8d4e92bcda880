// `quiver generate --model DIR --prompt TEXT [--adapter DIR[=WEIGHT]]... [--strategy S]
//   [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--device D]`
// Prints only the generated text on stdout (streamed); notes go to stderr. An empty prompt
// starts from BOS.
import { parseArgs } from "node:util";

import { Engine, EngineError, type Device, type Strategy } from "@quiver/engine";

const HELP = `Usage: quiver generate --model DIR --prompt TEXT [options]
  --adapter DIR[=WEIGHT]   a PEFT adapter (repeatable); weights default to 1/k
  --strategy S             mixture (default with adapters) | fusion | fusion-cat | selection | none
  --max-tokens N           default 256
  --temperature T          default 0 (greedy)
  --top-k K, --top-p P     sampling filters (off by default)
  --seed S                 RNG seed (default 0)
  --device D               auto (default) | cpu | cpu-reference | cuda | cuda-emulated (the
                           CUDA backend's code on the CPU; slow, for checks)`;

const STRATEGIES = ["mixture", "fusion", "fusion-cat", "selection", "none"];
const DEVICES = ["auto", "cpu", "cpu-reference", "cuda", "cuda-emulated"];

function num(v: string | undefined, name: string, fallback: number, integer: boolean): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x) || (integer && !Number.isInteger(x)))
    throw new EngineError("INVALID_ARGUMENT", `--${name} must be a ${integer ? "whole " : ""}number`);
  return x;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      prompt: { type: "string" },
      adapter: { type: "string", multiple: true },
      strategy: { type: "string" },
      "max-tokens": { type: "string" },
      temperature: { type: "string" },
      "top-k": { type: "string" },
      "top-p": { type: "string" },
      seed: { type: "string" },
      device: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.model || values.prompt === undefined) {
    console.error(HELP);
    return 2;
  }
  const strategy = values.strategy ?? (values.adapter?.length ? "mixture" : "none");
  if (!STRATEGIES.includes(strategy)) throw new EngineError("INVALID_ARGUMENT", `--strategy must be one of ${STRATEGIES.join(", ")}`);
  const device = values.device ?? process.env.QUIVER_DEVICE ?? "auto";
  if (!DEVICES.includes(device)) throw new EngineError("INVALID_ARGUMENT", `--device must be one of ${DEVICES.join(", ")}`);

  const specs = (values.adapter ?? []).map((s) => {
    const eq = s.lastIndexOf("=");
    const weight = eq > 0 ? Number(s.slice(eq + 1)) : undefined;
    if (weight !== undefined && !Number.isFinite(weight)) throw new EngineError("INVALID_ARGUMENT", `bad adapter weight in "${s}"`);
    return { dir: eq > 0 ? s.slice(0, eq) : s, weight };
  });

  const engine = await Engine.open(values.model, { device: device as Device });
  try {
    if (engine.info.deviceNote) console.error(`quiver generate: ${engine.info.deviceNote}`);
    const adapters = [];
    for (const s of specs) adapters.push({ adapter: await engine.loadAdapter(s.dir), weight: s.weight ?? 1 / specs.length });
    await engine.generateText(values.prompt, {
      strategy: strategy as Strategy,
      adapters,
      maxTokens: num(values["max-tokens"], "max-tokens", 256, true),
      temperature: num(values.temperature, "temperature", 0, false),
      topK: num(values["top-k"], "top-k", 0, true),
      topP: num(values["top-p"], "top-p", 1, false),
      seed: num(values.seed, "seed", 0, true),
      onText: (delta) => process.stdout.write(delta),
    });
    process.stdout.write("\n");
    return 0;
  } finally {
    await engine.close();
  }
}
