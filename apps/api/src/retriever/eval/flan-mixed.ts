// The LoraRetriever benchmark data (../shared/datasets/flan-mixed, see its PROVENANCE.md):
//   task_samples.json  66 tasks x 20 sample inputs (48 benchmark tasks + 18 extra ones);
//   mixed_test.json    2,395 test inputs of the 48 benchmark tasks, with task and cluster;
//   train_tasks.txt    the 19 benchmark tasks (40%) a retriever may be trained or tuned on.
// Loaded and checked once, here; everything downstream gets typed records.

import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { RetrieverError, RetrieverErrorCode } from "../errors.js";

export interface BenchmarkTask {
  task: string;
  /** Task cluster ("nli", "translation", ...). */
  cluster: string;
  /** False for the 18 extra tasks, used only as distractors. */
  inBenchmark: boolean;
  /** Sample inputs (20 each). */
  samples: string[];
}

export interface TestInput {
  input: string;
  task: string;
  /** The task's cluster, as mixed_test.json names it ("domain"). */
  cluster: string;
}

export interface FlanMixed {
  tasks: BenchmarkTask[];
  test: TestInput[];
  /** Tasks whose samples may be used for training or tuning ("seen"). */
  trainTasks: Set<string>;
}

function invalid(message: string): RetrieverError {
  return new RetrieverError(RetrieverErrorCode.DATASET_INVALID, message);
}

function readJson(file: string): unknown {
  if (!existsSync(file)) throw invalid(`missing ${file}`);
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw invalid(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

const isString = (x: unknown): x is string => typeof x === "string";

export function loadFlanMixed(dir: string): FlanMixed {
  const rawTasks = readJson(path.join(dir, "task_samples.json"));
  if (!Array.isArray(rawTasks)) throw invalid("task_samples.json: expected an array of tasks");
  const tasks: BenchmarkTask[] = rawTasks.map((t: Record<string, unknown>, i) => {
    const samples = Array.isArray(t.samples) ? t.samples.map((s: { inputs?: unknown }) => s?.inputs) : undefined;
    if (!isString(t.task) || !isString(t.cluster) || typeof t.in_benchmark !== "boolean" || !samples?.every(isString)) {
      throw invalid(`task_samples.json: task ${i} needs task, cluster, in_benchmark and samples[].inputs`);
    }
    return { task: t.task, cluster: t.cluster, inBenchmark: t.in_benchmark, samples: samples as string[] };
  });
  const byName = new Map(tasks.map((t) => [t.task, t]));
  if (byName.size !== tasks.length) throw invalid("task_samples.json: task names repeat");

  const rawTest = readJson(path.join(dir, "mixed_test.json"));
  if (!Array.isArray(rawTest)) throw invalid("mixed_test.json: expected an array of test entries");
  const test: TestInput[] = rawTest.map((e: Record<string, unknown>, i) => {
    if (!isString(e.inputs) || !isString(e.task) || !isString(e.domain)) {
      throw invalid(`mixed_test.json: entry ${i} needs inputs, task and domain`);
    }
    const task = byName.get(e.task);
    if (!task?.inBenchmark) throw invalid(`mixed_test.json: entry ${i} names "${e.task}", not a benchmark task`);
    return { input: e.inputs, task: e.task, cluster: e.domain };
  });

  const trainFile = path.join(dir, "train_tasks.txt");
  if (!existsSync(trainFile)) throw invalid(`missing ${trainFile}`);
  const trainTasks = new Set(
    readFileSync(trainFile, "utf8")
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter((l) => l !== "" && !l.startsWith("#")),
  );
  for (const t of trainTasks) {
    if (!byName.get(t)?.inBenchmark) throw invalid(`train_tasks.txt names "${t}", not a benchmark task`);
  }
  return { tasks, test, trainTasks };
}
