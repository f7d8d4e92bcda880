// A small model zoo in a temp folder, in the committed zoo's layout (apps/api/src/zoo/manifest.ts):
// stories260K as the base model (with the zoo's prompt template), one random-weight LoRA per
// task, and a hand-written tasks.json of 2 clusters x 2 tasks with 10 samples and 2 test items
// each. Answers are placeholders until a test sets them (setZooAnswers).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { convertLlama2c } from "@quiver/engine";
import { writeSyntheticAdapter } from "../../native/src/synthetic.js";
import { ZOO_FORMAT, type ZooManifest, type ZooTask } from "../../apps/api/src/zoo/manifest.js";
import { trainZooRetrieverHead } from "../../apps/api/src/zoo/train-zoo.js";
import { tempDir } from "./pool.js";
import { STORIES_DIR, STORIES_SPEC } from "./stories.js";

const ANIMALS = ["cat", "dog", "bird", "fox", "bear", "frog", "duck", "lion", "fish", "owl", "goat", "wolf"];
const PLACES = ["beach", "harbour", "island", "lighthouse", "reef", "bay", "coast", "pier", "cove", "dock", "lagoon", "shore"];

/** task -> (cluster, sample maker); samples 0-9 stand for the task, 10-11 are its test inputs. */
const TASKS: Array<{ name: string; cluster: string; description: string; text: (i: number) => string }> = [
  { name: "add", cluster: "math", description: "Add two numbers.", text: (i) => `What is ${i + 2} plus ${2 * i + 5}? Give the sum.` },
  { name: "multiply", cluster: "math", description: "Multiply two numbers.", text: (i) => `What is ${i + 3} times ${i + 7}? Give the product.` },
  {
    name: "forest-story",
    cluster: "stories",
    description: "A story about an animal in the forest.",
    text: (i) => `Tell a story about a ${ANIMALS[i]} in the forest.`,
  },
  { name: "sea-story", cluster: "stories", description: "A story at the seaside.", text: (i) => `Tell a story about a day at the ${PLACES[i]} by the sea.` },
];

export const FIXTURE_CLUSTERS = { math: ["add", "multiply"], stories: ["forest-story", "sea-story"] };

/** Writes the fixture zoo; returns its folder. */
export function writeFixtureZoo(): string {
  const dir = tempDir("zoo");
  const model = path.join(dir, "model");
  convertLlama2c(path.join(STORIES_DIR, "stories260K.bin"), path.join(STORIES_DIR, "tok512.bin"), model);
  writeFileSync(path.join(model, "tokenizer_config.json"), JSON.stringify({ quiver_prompt_template: "{prompt}\n" }) + "\n");
  const tasks: ZooTask[] = TASKS.map((t, n) => {
    writeSyntheticAdapter(path.join(dir, "adapters", t.name), STORIES_SPEC, {
      rank: 4,
      alpha: 8,
      rslora: false,
      modules: ["q_proj", "v_proj", "o_proj", "down_proj"],
      seed: 11 + n,
      strength: 0.5,
    });
    const items = [10, 11].map((i) => ({ input: t.text(i), answer: "placeholder" }));
    return {
      name: t.name,
      cluster: t.cluster,
      description: t.description,
      adapter: `adapters/${t.name}`,
      samples: Array.from({ length: 10 }, (_, i) => t.text(i)),
      validation: items.slice(0, 1),
      test: items,
    };
  });
  const manifest: ZooManifest = {
    format: ZOO_FORMAT,
    seed: 1,
    model: "model",
    clusters: Object.entries(FIXTURE_CLUSTERS).map(([name, ts]) => ({ name, description: `the ${name} cluster`, tasks: ts })),
    tasks,
  };
  writeManifest(dir, manifest);
  return dir;
}

/** Trains the zoo's retriever head on its samples (as `quiver train zoo` does) and names it in tasks.json. */
export async function addZooRetrieverHead(dir: string): Promise<void> {
  const m = readManifest(dir);
  await trainZooRetrieverHead(path.join(dir, "retriever-head"), m.tasks);
  writeManifest(dir, { ...m, retrieverHead: "retriever-head" });
}

export function readManifest(dir: string): ZooManifest {
  return JSON.parse(readFileSync(path.join(dir, "tasks.json"), "utf8")) as ZooManifest;
}

export function writeManifest(dir: string, m: unknown): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "tasks.json"), JSON.stringify(m, null, 2) + "\n");
}

/** Replaces every test item's answer with `answer(task, input)`. */
export async function setZooAnswers(dir: string, answer: (task: string, input: string) => Promise<string>): Promise<void> {
  const m = readManifest(dir);
  for (const t of m.tasks) for (const item of t.test) item.answer = await answer(t.name, item.input);
  writeManifest(dir, m);
}
