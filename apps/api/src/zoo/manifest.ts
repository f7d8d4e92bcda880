// The model zoo's manifest, zoo/tasks.json: the synthetic mixed-task suite (clusters of
// tasks with sample inputs and held-out items) and where each task's adapter lives. Written
// by `quiver train zoo`; read by `quiver eval zoo` and by the server's embedded default.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { QuiverError } from "../errors.js";

export const ZOO_FORMAT = "quiver-zoo/1";

export interface ZooItem {
  input: string;
  answer: string;
}

export interface ZooTask {
  /** Unique, [a-z0-9-]; the adapter's name in the pool. */
  name: string;
  cluster: string;
  /** One line for people: what the task asks. */
  description: string;
  /** The PEFT folder, relative to the zoo directory. */
  adapter: string;
  /** 20 inputs that stand for the task in retrieval (never scored). */
  samples: string[];
  /** Held-out items for choosing settings (train zoo's early checks); never trained on. */
  validation: ZooItem[];
  /** Held-out items `quiver eval zoo` scores; never trained on or tuned on. */
  test: ZooItem[];
}

export interface ZooCluster {
  name: string;
  description: string;
  /** Task names, in order. */
  tasks: string[];
}

export interface ZooManifest {
  format: typeof ZOO_FORMAT;
  /** The seed the suite and the weights were made from. */
  seed: number;
  /** The base model's Hugging Face folder, relative to the zoo directory. */
  model: string;
  clusters: ZooCluster[];
  tasks: ZooTask[];
  /**
   * The retriever head trained on the tasks' samples (head.onnx + head.json), relative to the
   * zoo directory; the server and `quiver eval zoo` retrieve through it. Absent in zoos made
   * before it existed: retrieval then runs on the encoder alone.
   */
  retrieverHead?: string;
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

function fail(file: string, what: string): never {
  throw new QuiverError("BAD_USER_INPUT", `${file}: ${what}`, { hint: "Rebuild the zoo with `npx quiver train zoo`." });
}

function items(file: string, where: string, v: unknown): ZooItem[] {
  if (!Array.isArray(v)) fail(file, `${where} must be an array`);
  return v.map((it, i) => {
    const o = it as Partial<ZooItem> | null;
    if (!o || typeof o.input !== "string" || typeof o.answer !== "string" || !o.input || !o.answer)
      fail(file, `${where}[${i}] needs a non-empty input and answer`);
    return { input: o.input, answer: o.answer };
  });
}

/** Checks a parsed manifest; `file` names it in errors. */
export function checkZooManifest(raw: unknown, file = "tasks.json"): ZooManifest {
  const m = raw as Partial<ZooManifest> | null;
  if (!m || typeof m !== "object") fail(file, "not a JSON object");
  if (m.format !== ZOO_FORMAT) fail(file, `format must be "${ZOO_FORMAT}"`);
  if (!Number.isInteger(m.seed)) fail(file, "seed must be an integer");
  if (typeof m.model !== "string" || !m.model) fail(file, "model must name the base model folder");
  if (!Array.isArray(m.clusters) || !Array.isArray(m.tasks)) fail(file, "clusters and tasks must be arrays");
  const tasks = m.tasks.map((t, i): ZooTask => {
    if (!t || typeof t.name !== "string" || !NAME.test(t.name)) fail(file, `tasks[${i}].name must match ${NAME}`);
    if (typeof t.cluster !== "string" || typeof t.adapter !== "string" || typeof t.description !== "string")
      fail(file, `task ${t.name}: cluster, adapter and description must be strings`);
    if (!Array.isArray(t.samples) || t.samples.length === 0 || !t.samples.every((s) => typeof s === "string" && s.trim()))
      fail(file, `task ${t.name}: samples must be non-empty strings`);
    return {
      name: t.name, cluster: t.cluster, description: t.description, adapter: t.adapter, samples: [...t.samples],
      validation: items(file, `task ${t.name}.validation`, t.validation), test: items(file, `task ${t.name}.test`, t.test),
    };
  });
  const names = new Set<string>();
  for (const t of tasks) {
    if (names.has(t.name)) fail(file, `task ${t.name} appears twice`);
    names.add(t.name);
  }
  const clusters = m.clusters.map((c, i): ZooCluster => {
    if (!c || typeof c.name !== "string" || !Array.isArray(c.tasks)) fail(file, `clusters[${i}] needs a name and tasks`);
    for (const t of c.tasks) if (!names.has(t)) fail(file, `cluster ${c.name} names unknown task ${String(t)}`);
    return { name: c.name, description: typeof c.description === "string" ? c.description : "", tasks: [...c.tasks] };
  });
  for (const t of tasks)
    if (!clusters.some((c) => c.name === t.cluster && c.tasks.includes(t.name))) fail(file, `task ${t.name} is in no cluster ${t.cluster}`);
  if (m.retrieverHead !== undefined && (typeof m.retrieverHead !== "string" || !m.retrieverHead))
    fail(file, "retrieverHead must name the retriever head folder");
  return { format: ZOO_FORMAT, seed: m.seed!, model: m.model, clusters, tasks, ...(m.retrieverHead ? { retrieverHead: m.retrieverHead } : {}) };
}

/** Reads DIR/tasks.json; paths in the result stay relative to DIR (see zooPath). */
export function readZooManifest(dir: string): ZooManifest {
  const file = path.join(dir, "tasks.json");
  if (!existsSync(file))
    throw new QuiverError("NOT_FOUND", `${file} does not exist`, { hint: "Build the zoo with `npx quiver train zoo`, or pass --zoo DIR." });
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    fail(file, `not valid JSON (${(err as Error).message})`);
  }
  return checkZooManifest(raw, file);
}

export function zooPath(dir: string, relative: string): string {
  return path.resolve(dir, relative);
}

/** The zoo's retriever head folder, or undefined when the zoo has none. */
export function zooRetrieverHead(dir: string, manifest: ZooManifest): string | undefined {
  return manifest.retrieverHead ? zooPath(dir, manifest.retrieverHead) : undefined;
}
