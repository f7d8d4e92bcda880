// An adapter's retrieval embedding, as the paper defines it: the normalised mean of the
// embeddings of its 10-20 sample inputs. The samples hash tells when a stored vector is stale
// (samples edited) so that re-embedding can skip current ones.

import { createHash } from "node:crypto";
import { RetrieverError, RetrieverErrorCode } from "./errors.js";
import type { SentenceEncoder, Truncation } from "./encoder.js";
import { mean, normalized } from "./vector-math.js";

export const MIN_SAMPLES = 10;
export const MAX_SAMPLES = 20;

export interface SamplePolicy {
  /**
   * Reject repeated sample texts (the default, for adapters users register). The paper's own
   * benchmark data repeats some FLAN prompts within a task; the benchmark keeps them ("allow").
   */
  duplicates?: "reject" | "allow";
  min?: number;
  max?: number;
}

/** Checks an adapter's sample inputs; throws TOO_FEW_SAMPLES, TOO_MANY_SAMPLES, DUPLICATE_SAMPLES, EMPTY_INPUT. */
export function checkSamples(samples: readonly string[], policy: SamplePolicy = {}): void {
  const min = policy.min ?? MIN_SAMPLES;
  const max = policy.max ?? MAX_SAMPLES;
  if (samples.length < min) {
    throw new RetrieverError(RetrieverErrorCode.TOO_FEW_SAMPLES, `an adapter needs at least ${min} sample inputs to be retrievable; got ${samples.length}`);
  }
  if (samples.length > max) {
    throw new RetrieverError(RetrieverErrorCode.TOO_MANY_SAMPLES, `an adapter takes at most ${max} sample inputs; got ${samples.length}`);
  }
  samples.forEach((s, i) => {
    if (typeof s !== "string" || s.trim() === "") {
      throw new RetrieverError(RetrieverErrorCode.EMPTY_INPUT, `sample ${i} is empty`);
    }
  });
  if ((policy.duplicates ?? "reject") === "reject") {
    const seen = new Map<string, number>();
    samples.forEach((s, i) => {
      const key = s.trim();
      const first = seen.get(key);
      if (first !== undefined) {
        throw new RetrieverError(RetrieverErrorCode.DUPLICATE_SAMPLES, `samples ${first} and ${i} are the same text; give distinct examples of the task`);
      }
      seen.set(key, i);
    });
  }
}

/** sha256 over the sample texts, independent of their order. */
export function samplesHash(samples: readonly string[]): string {
  const sorted = [...samples].sort();
  const h = createHash("sha256");
  for (const s of sorted) h.update(`${Buffer.byteLength(s, "utf8")}:`).update(s, "utf8");
  return h.digest("hex");
}

export interface AdapterEmbedding {
  /** (dimension), unit length. */
  vector: Float32Array;
  samplesHash: string;
  /** Samples that were cut before encoding (index = sample position). */
  truncations: Truncation[];
}

/** Normalised mean of the sample embeddings: (samples) x (d) -> (d). */
export async function embedAdapter(encoder: SentenceEncoder, samples: readonly string[], policy: SamplePolicy = {}): Promise<AdapterEmbedding> {
  checkSamples(samples, policy);
  const { vectors, truncations } = await encoder.encode(samples);
  return { vector: normalized(mean(vectors)), samplesHash: samplesHash(samples), truncations };
}
