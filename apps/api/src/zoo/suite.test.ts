// The synthetic mixed-task suite: its shape (8 clusters of 3 tasks, wordings, samples),
// held-out items that training never sees, answers that follow the task, and determinism.
import { CLUSTERS, TASKS, drawTask, mulberry32, plural, pretrainItem } from "./suite.js";

const SIZES = { train: 400, validation: 10, test: 20, samples: 20 };

test("8 clusters of at least 3 tasks, every task in one cluster", () => {
  expect(CLUSTERS.length).toBeGreaterThanOrEqual(8);
  for (const c of CLUSTERS) expect(TASKS.filter((t) => t.cluster === c.name).length).toBeGreaterThanOrEqual(3);
  for (const t of TASKS) expect(CLUSTERS.map((c) => c.name)).toContain(t.cluster);
  expect(new Set(TASKS.map((t) => t.name)).size).toBe(TASKS.length);
});

test.each(TASKS.map((t, i) => [t.name, i] as const))("%s: held-out items are new to training; 20 samples; several wordings", (_name, i) => {
  const task = TASKS[i]!;
  const s = drawTask(task, 1000 + i, SIZES);
  expect(s.samples).toHaveLength(20);
  expect(s.validation).toHaveLength(10);
  expect(s.test).toHaveLength(20);
  const trainInputs = new Set(s.train.map((x) => x.input));
  for (const it of [...s.validation, ...s.test]) expect(trainInputs.has(it.input)).toBe(false);
  expect(new Set([...s.validation, ...s.test].map((x) => x.input)).size).toBe(30);
  for (const x of s.samples) expect(trainInputs.has(x)).toBe(true);
  // several wordings: inputs differ in more than the filled-in words
  const prefixes = new Set(s.train.map((x) => x.input.split(" ").slice(0, 2).join(" ")));
  expect(prefixes.size).toBeGreaterThanOrEqual(3);
  for (const x of [...s.train, ...s.test]) {
    expect(x.answer.length).toBeGreaterThan(0);
    expect(x.input).toMatch(/^[\x20-\x7e]+$/);
  }
  expect(drawTask(task, 1000 + i, SIZES)).toEqual(s);
  expect(drawTask(task, 2000 + i, SIZES).test).not.toEqual(s.test);
});

test("answers follow the task", () => {
  const byName = Object.fromEntries(TASKS.map((t) => [t.name, t]));
  const r = mulberry32(5);
  for (let n = 0; n < 200; n++) {
    const up = byName["upper-color"]!.make(r);
    expect(up.answer).toBe(up.input.match(/([a-z]+)$/)![1]!.toUpperCase());
    const add = byName["add-plain"]!.make(r);
    const [a, b] = add.input.match(/\d+/g)!.map(Number);
    expect(add.answer).toBe(String(a! + b!));
    const last = byName["last-object"]!.make(r);
    expect(last.answer).toBe(last.input.match(/[a-z]+(?:, [a-z]+)+/)![0].split(", ").pop());
    const join = byName["join-numbers"]!.make(r);
    expect(join.answer).toBe(join.input.split(/: | the numbers /).pop()!.split(" ").join("-"));
  }
  expect([plural("fox"), plural("berry"), plural("key"), plural("dish"), plural("cat")]).toEqual(["foxes", "berries", "keys", "dishes", "cats"]);
});

test("the base model's text: copying, or a skill behind an opaque code, never the suite's wordings", () => {
  const r = mulberry32(1);
  const wordings = new Set(TASKS.flatMap((t, i) => drawTask(t, 3000 + i, { train: 200, validation: 1, test: 1, samples: 1 }).train.map((x) => x.input)));
  let coded = 0;
  for (let n = 0; n < 400; n++) {
    const it = pretrainItem(r);
    expect(wordings.has(it.input)).toBe(false);
    if (/^#[1-8] /.test(it.input)) coded++;
    else expect(it.input.endsWith(it.answer)).toBe(true);
  }
  expect(coded).toBeGreaterThan(120);
  expect(coded).toBeLessThan(280);
});
