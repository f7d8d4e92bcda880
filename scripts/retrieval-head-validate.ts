// Reproduces the table "Choosing the head's settings" in docs/retriever.md: cross-validation
// of retriever-head settings on the training tasks only (train_tasks.txt samples; never
// mixed_test.json). Usage:
//   node --import tsx scripts/retrieval-head-validate.ts --data ../shared/datasets/flan-mixed [--seeds 1,2,...,12] [--only default]
import { parseArgs } from "node:util";
import { UseLiteEncoder } from "../apps/api/src/retriever/use-lite/use-lite-encoder.js";
import { loadFlanMixed } from "../apps/api/src/retriever/eval/flan-mixed.js";
import { crossValidateHead, DEFAULT_HEAD_CONFIG, type HeadTrainingConfig, type TaskVectors } from "../apps/api/src/retriever/head/train-head.js";

const CANDIDATES: Array<[string, Partial<HeadTrainingConfig>]> = [
  ["low-rank r=16, decay 1e-2", { rank: 16, weightDecay: 1e-2 }],
  ["low-rank r=16, decay 3e-2", { rank: 16, weightDecay: 3e-2 }],
  ["low-rank r=4, decay 3e-2", { rank: 4, weightDecay: 3e-2 }],
  ["element-wise, decay 1e-2 (default)", {}],
  ["element-wise, decay 1e-3", { weightDecay: 1e-3 }],
  ["element-wise, 300 steps", { steps: 300 }],
];
const { values } = parseArgs({ options: { data: { type: "string" }, seeds: { type: "string" }, only: { type: "string" } }, strict: true });
const SEEDS = (values.seeds ?? "1,2,3,4,5,6,7,8,9,10,11,12").split(",").map(Number);
if (!values.data) {
  console.error("usage: node --import tsx scripts/retrieval-head-validate.ts --data DIR");
  process.exit(2);
}
const data = loadFlanMixed(values.data);
const encoder = await UseLiteEncoder.load();
const tasks: TaskVectors[] = [];
for (const t of data.tasks.filter((t) => data.trainTasks.has(t.task))) tasks.push({ task: t.task, vectors: (await encoder.encode(t.samples)).vectors });
await encoder.close();

const f = (x: number) => x.toFixed(1);
let printedBaseline = false;
for (const [label, change] of CANDIDATES.filter(([l]) => !values.only || l.includes(values.only!))) {
  const config = { ...DEFAULT_HEAD_CONFIG, ...change };
  const sum = { u: [0, 0, 0, 0], t: [0, 0, 0, 0] };
  for (const seed of SEEDS) {
    const r = crossValidateHead(tasks, config, 4, seed);
    [r.untrained.seen.top1, r.untrained.seen.top3, r.untrained.unseen.top1, r.untrained.unseen.top3].forEach((v, i) => (sum.u[i]! += v / SEEDS.length));
    [r.trained.seen.top1, r.trained.seen.top3, r.trained.unseen.top1, r.trained.unseen.top3].forEach((v, i) => (sum.t[i]! += v / SEEDS.length));
  }
  if (!printedBaseline) {
    console.log(`| none (frozen USE-lite) | ${f(sum.u[0]!)} / ${f(sum.u[1]!)} | ${f(sum.u[2]!)} / ${f(sum.u[3]!)} |`);
    printedBaseline = true;
  }
  console.log(`| ${label} | ${f(sum.t[0]!)} / ${f(sum.t[1]!)} | ${f(sum.t[2]!)} / ${f(sum.t[3]!)} |`);
}
