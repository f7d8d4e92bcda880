// Background re-embedding of the whole pool under an encoder (a new QUIVER_ENCODER, a new
// head), as an EmbeddingJob row: QUEUED -> RUNNING -> DONE | FAILED | CANCELLED.
//  - progress: `done` of `total` adapters, written after every page;
//  - resumable: an interrupted job (process stopped, `signal` aborted) stays RUNNING; the next
//    run picks the same row up and skips adapters whose stored samplesHash is current;
//  - retrieval keeps answering from the active encoder's vectors until the job completes,
//    then this encoder becomes the active one (one transaction).
// Adapters with too few samples cannot be embedded; they are skipped and counted.

import type { EmbeddingJobRecord, EmbeddingStore } from "../catalog/embeddings.js";
import { embedAdapter, MIN_SAMPLES, samplesHash } from "./adapter-embedding.js";
import type { SentenceEncoder } from "./encoder.js";

export interface ReembedOptions {
  /** Adapters read per page (and per progress update). */
  pageSize?: number;
  /** Aborting interrupts the job; it stays RUNNING and resumes on the next run. */
  signal?: AbortSignal;
  /** Called after every page with the job's progress. */
  onProgress?: (p: { jobId: string; done: number; total: number }) => void;
  /** Make the encoder active when the job completes (default true). */
  activate?: boolean;
}

export interface ReembedOutcome {
  job: EmbeddingJobRecord;
  /** Adapters embedded in this run. */
  embedded: number;
  /** Adapters whose vector was already current. */
  skippedCurrent: number;
  /** Adapters with fewer than MIN_SAMPLES samples. */
  skippedTooFewSamples: number;
  /** True when `signal` stopped the run before the end. */
  interrupted: boolean;
}

export async function reembedPool(store: EmbeddingStore, encoder: SentenceEncoder, options: ReembedOptions = {}): Promise<ReembedOutcome> {
  const pageSize = options.pageSize ?? 50;
  await store.registerEncoder(encoder);
  const total = await store.countAdapters();
  const job = (await store.unfinishedJob(encoder.identity)) ?? (await store.createJob(encoder.identity, total));
  await store.markJobRunning(job.id, total);
  const outcome = { embedded: 0, skippedCurrent: 0, skippedTooFewSamples: 0, interrupted: false };
  let done = 0;
  let after: string | undefined;
  try {
    for (;;) {
      if (options.signal?.aborted) {
        outcome.interrupted = true;
        break;
      }
      const page = await store.adapterSamplesPage(after, pageSize);
      if (page.length === 0) break;
      const stored = await store.storedHashes(
        encoder.identity,
        page.map((a) => a.adapterId),
      );
      const rows = [];
      for (const a of page) {
        if (a.samples.length < MIN_SAMPLES) {
          outcome.skippedTooFewSamples++;
        } else if (stored.get(a.adapterId) === samplesHash(a.samples)) {
          outcome.skippedCurrent++;
        } else {
          // Stored samples passed registration; repeated texts in older data are kept, not fatal.
          const e = await embedAdapter(encoder, a.samples, { duplicates: "allow" });
          rows.push({ adapterId: a.adapterId, encoderId: encoder.identity, vector: e.vector, samplesHash: e.samplesHash });
          outcome.embedded++;
        }
      }
      await store.upsertEmbeddings(rows);
      done += page.length;
      after = page.at(-1)!.adapterId;
      await store.recordJobProgress(job.id, done);
      options.onProgress?.({ jobId: job.id, done, total });
    }
    if (!outcome.interrupted) {
      await store.analyze();
      await store.finishJob(job.id, "DONE");
      if (options.activate ?? true) await store.activateEncoder(encoder.identity);
    }
  } catch (err) {
    await store.finishJob(job.id, "FAILED", (err as Error).message);
    throw err;
  }
  return { job: (await store.getJob(job.id))!, ...outcome };
}

/** Stops a job for good (it will not resume). */
export async function cancelJob(store: EmbeddingStore, jobId: string): Promise<void> {
  await store.finishJob(jobId, "CANCELLED");
}
