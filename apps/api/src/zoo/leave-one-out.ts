// Strict OOD retrieval for `quiver eval zoo --strict-ood`. The zoo's retriever head is trained
// on every task's samples, so in the OOD columns the retriever has seen the task whose adapter
// was left out of the pool (as the paper's retriever trained on 100% of its tasks would). Here
// each task's items are retrieved instead through a head trained with the same settings on
// the other tasks' samples only: neither the pool nor the retriever knows the task.
//
// The heads run as plain forward passes (head-model.ts applyHead, which the ONNX export
// matches to 1e-6, tested), on the frozen encoder's vectors, each text encoded once.
import type { EncodeResult, SentenceEncoder, Truncation } from "../retriever/encoder.js";
import { applyHead } from "../retriever/head/head-model.js";
import { encodeTaskSamples, trainHead, type HeadTrainingConfig } from "../retriever/head/train-head.js";

/** The frozen encoder with every text's vector (and what was cut from it) kept: the heads below share them. */
function memoized(base: SentenceEncoder): (texts: readonly string[]) => Promise<EncodeResult> {
  const cache = new Map<string, { vector: Float32Array; cut?: Truncation }>();
  return async (texts) => {
    const missing = [...new Set(texts.filter((t) => !cache.has(t)))];
    if (missing.length) {
      const r = await base.encode(missing);
      missing.forEach((t, i) => cache.set(t, { vector: r.vectors[i]!, cut: r.truncations.find((c) => c.index === i) }));
    }
    const hits = texts.map((t) => cache.get(t)!);
    return {
      vectors: hits.map((h) => h.vector),
      truncations: hits.flatMap((h, index) => (h.cut ? [{ ...h.cut, index }] : [])),
    };
  };
}

/**
 * One retriever per task: a head trained with `config` on the samples of every other task,
 * on top of `base` (the encoder the served head runs on). The encoders share `base`, which
 * the caller closes.
 */
export async function leaveOneOutRetrievers(
  base: SentenceEncoder,
  config: HeadTrainingConfig,
  tasks: readonly { name: string; samples: readonly string[] }[],
  onHead?: (done: number, total: number, seconds: number) => void,
): Promise<Map<string, SentenceEncoder>> {
  const started = performance.now();
  const encode = memoized(base);
  const data = await encodeTaskSamples({ encode }, tasks);
  const out = new Map<string, SentenceEncoder>();
  for (const left of tasks) {
    const head = trainHead(data.filter((d) => d.task !== left.name), config);
    out.set(left.name, {
      identity: `head-without-${left.name}@${base.identity}`,
      kind: "head",
      name: `retriever head trained without ${left.name} on ${base.name}`,
      dimension: base.dimension,
      prefix: base.prefix,
      maxTokens: base.maxTokens,
      encode: async (texts) => {
        const r = await encode(texts);
        return { vectors: applyHead(head.params, r.vectors), truncations: r.truncations };
      },
      close: async () => {},
    });
    onHead?.(out.size, tasks.length, (performance.now() - started) / 1000);
  }
  return out;
}
