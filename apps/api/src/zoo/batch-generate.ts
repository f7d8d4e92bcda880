// Greedy generation of many (prompt, adapter mapping) jobs on the native engine, in
// heterogeneous batches: every sample of a step carries its own strategy and adapters
// (Engine.step). A batch holds at most `maxBatch` jobs whose distinct adapters fit the
// engine's adapter slots, so no step asks for more resident adapters than it has.
import { EngineError, type Engine, type Strategy } from "@quiver/engine";

export interface GenerationJob {
  /** [BOS, ...prompt] token ids. */
  prompt: readonly number[];
  strategy: Strategy;
  /** Engine adapter ids with weights; empty for the base model. */
  adapters: readonly { adapter: number; weight: number }[];
}

/** Tokens a prefill step feeds one sequence at most (as Engine.generate does). */
const PREFILL_CHUNK = 256;

/**
 * Splits job indices into batches of at most `maxBatch` whose union of adapter ids has at
 * most `slots` members. Jobs are ordered by their adapter set first, so jobs that share
 * adapters share batches. Throws when one job alone needs more than `slots` adapters.
 */
export function planBatches(jobs: readonly { adapters: readonly { adapter: number }[] }[], maxBatch: number, slots: number): number[][] {
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw new EngineError("INVALID_ARGUMENT", "maxBatch must be a positive integer");
  const sets = jobs.map((j) => [...new Set(j.adapters.map((a) => a.adapter))].sort((a, b) => a - b));
  sets.forEach((s, i) => {
    if (s.length > slots) throw new EngineError("INVALID_ARGUMENT", `job ${i} uses ${s.length} adapters; the engine has ${slots} adapter slots`);
  });
  const order = jobs.map((_, i) => i).sort((a, b) => {
    const x = sets[a]!.join(",");
    const y = sets[b]!.join(",");
    return x < y ? -1 : x > y ? 1 : a - b;
  });
  const batches: number[][] = [];
  let batch: number[] = [];
  let union = new Set<number>();
  for (const i of order) {
    const grown = new Set([...union, ...sets[i]!]);
    if (batch.length > 0 && (batch.length >= maxBatch || grown.size > slots)) {
      batches.push(batch);
      batch = [];
      union = new Set(sets[i]!);
    } else {
      union = grown;
    }
    batch.push(i);
  }
  if (batch.length) batches.push(batch);
  return batches;
}

export interface BatchGenerateOptions {
  maxTokens: number;
  maxBatch: number;
  /** Called after each batch with jobs done so far. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs every job greedily (temperature 0) until an EOS token (not part of the output) or
 * `maxTokens` tokens; resolves to each job's generated token ids, in job order.
 */
export async function generateBatched(engine: Engine, jobs: readonly GenerationJob[], options: BatchGenerateOptions): Promise<number[][]> {
  const eos = new Set(engine.info.eosTokenIds);
  const outputs: number[][] = jobs.map(() => []);
  const batches = planBatches(jobs, options.maxBatch, engine.info.adapterSlots);
  let done = 0;
  for (const batch of batches) {
    const seqs: number[] = [];
    try {
      for (let b = 0; b < batch.length; b++) seqs.push(await engine.createSequence({ temperature: 0 }));
      // Per sequence: prompt tokens fed so far, and the last sampled token (-1 while prefilling).
      const fed = batch.map(() => 0);
      const last = batch.map(() => -1);
      const live = new Set(batch.map((_, b) => b));
      while (live.size) {
        const members = [...live];
        const items = members.map((b) => {
          const job = jobs[batch[b]!]!;
          const base = { sequence: seqs[b]!, strategy: job.strategy, adapters: [...job.adapters] };
          if (fed[b]! < job.prompt.length) {
            const chunk = job.prompt.slice(fed[b]!, fed[b]! + PREFILL_CHUNK);
            fed[b]! += chunk.length;
            return { ...base, tokens: chunk, sample: fed[b] === job.prompt.length };
          }
          return { ...base, tokens: [last[b]!] };
        });
        const { results } = await engine.step(items);
        results.forEach((r, n) => {
          const b = members[n]!;
          if (!r.ok) throw r.error ?? new EngineError("INTERNAL", "an engine step failed");
          if (r.token < 0) return; // a prefill chunk before the prompt's end
          if (eos.has(r.token)) {
            live.delete(b);
            return;
          }
          const out = outputs[batch[b]!]!;
          out.push(r.token);
          last[b] = r.token;
          if (out.length >= options.maxTokens) live.delete(b);
        });
      }
    } finally {
      for (const s of seqs) await engine.freeSequence(s);
    }
    done += batch.length;
    options.onProgress?.(done, jobs.length);
  }
  return outputs;
}
