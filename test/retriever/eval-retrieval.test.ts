/**
 * @jest-environment ./test/retriever/ort-environment.mjs
 */
// `quiver eval retrieval` on a slice of the real benchmark (8 tasks, 64 test inputs): the
// whole path (USE-lite on onnxruntime, pgvector on PGlite, head trained on train_tasks.txt,
// exported to ONNX) must land well above chance, and --json must end stdout with the
// contract's shape.
import { jest } from "@jest/globals";
import { run } from "../../apps/api/src/cli/commands/eval-retrieval.js";
import { flanMixedDir } from "./flan-mixed-path.js";

// Four seen (train_tasks.txt) and four unseen tasks from different clusters.
const TASKS = ["snli", "imdb_reviews", "wmt16_translate_fien", "arc_easy", "sst2", "e2e_nlg", "mrpc", "wmt16_translate_deen"];

describe("quiver eval retrieval --json on a slice", () => {
  const dir = flanMixedDir();
  const maybe = dir ? test : test.skip;

  maybe(
    "prints the table and the JSON contract; accuracy is far above chance",
    async () => {
      const lines: string[] = [];
      const log = jest.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.join(" ")));
      const err = jest.spyOn(console, "error").mockImplementation(() => undefined);
      let code: number;
      try {
        code = await run(["--data", dir!, "--json", "--tasks", TASKS.join(","), "--queries", "64"]);
      } finally {
        log.mockRestore();
        err.mockRestore();
      }
      expect(code).toBe(0);
      const out = lines.join("\n").split("\n");
      expect(out.some((l) => l.startsWith("paper: Instructor-XL, untrained"))).toBe(true);
      const json = JSON.parse(out.at(-1)!);
      for (const which of ["untrained", "trained"]) {
        expect(Object.keys(json[which]).sort()).toEqual(["byCluster", "overall", "seen", "unseen"]);
        for (const group of ["overall", "seen", "unseen"]) expect(Object.keys(json[which][group]).sort()).toEqual(["top1", "top3", "top5"]);
        // 8 candidates: chance is 12.5% top-1, 37.5% top-3.
        expect(json[which].overall.top1).toBeGreaterThan(60);
        expect(json[which].overall.top3).toBeGreaterThan(85);
        expect(json[which].overall.top1).toBeLessThanOrEqual(json[which].overall.top3);
        expect(json[which].overall.top3).toBeLessThanOrEqual(json[which].overall.top5);
      }
      expect(Object.keys(json.latency).sort()).toEqual(["encodeP50Ms", "encodeP99Ms", "searchP50Ms", "searchP99Ms"]);
      expect(json.latency.encodeP50Ms).toBeGreaterThan(0);
    },
    300_000,
  );
});
