/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// Strict OOD retrieval (apps/api/src/zoo/leave-one-out.ts): each task's retriever is a head
// trained on the other tasks' samples only, run on the shared frozen encoder.
import { UseLiteEncoder } from "../../apps/api/src/retriever/use-lite/use-lite-encoder.js";
import { applyHead } from "../../apps/api/src/retriever/head/head-model.js";
import { DEFAULT_HEAD_CONFIG, trainHead } from "../../apps/api/src/retriever/head/train-head.js";
import { leaveOneOutRetrievers } from "../../apps/api/src/zoo/leave-one-out.js";

const tasks = [
  { name: "upper", samples: ["Uppercase this animal: cat", "Uppercase this animal: dog", "Write the animal in capitals: owl"] },
  { name: "plural", samples: ["Plural of the animal fox?", "Plural of the animal bear?", "Make the animal wolf plural"] },
  { name: "sum", samples: ["What is 2 plus 3?", "Add 4 to 5.", "Sum 1 and 7."] },
];

describe("leave-one-task-out retrievers", () => {
  let base: UseLiteEncoder;
  beforeAll(async () => {
    base = await UseLiteEncoder.load();
  });
  afterAll(async () => {
    await base.close();
  });

  test("each task's retriever is the head trained without that task, on the frozen encoder", async () => {
    const config = { ...DEFAULT_HEAD_CONFIG, steps: 20 };
    const progress: number[] = [];
    const loo = await leaveOneOutRetrievers(base, config, tasks, (done) => progress.push(done));
    expect([...loo.keys()]).toEqual(["upper", "plural", "sum"]);
    expect(progress).toEqual([1, 2, 3]);
    const texts = ["Uppercase this animal: lion", "What is 6 plus 1?", "Uppercase this animal: lion"];
    const frozen = (await base.encode(texts)).vectors;
    for (const left of tasks) {
      const others = tasks.filter((t) => t.name !== left.name);
      const data = [];
      for (const t of others) data.push({ task: t.name, vectors: (await base.encode(t.samples)).vectors });
      const want = applyHead(trainHead(data, config).params, frozen);
      const enc = loo.get(left.name)!;
      expect(enc).toMatchObject({ kind: "head", identity: `head-without-${left.name}@${base.identity}`, dimension: base.dimension });
      const got = (await enc.encode(texts)).vectors;
      got.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(want[i]!)));
    }
    // Three different heads: leaving out another task changes the retriever.
    const [a, b] = [(await loo.get("upper")!.encode(texts)).vectors[0]!, (await loo.get("sum")!.encode(texts)).vectors[0]!];
    expect(Array.from(a)).not.toEqual(Array.from(b));
  });
});
