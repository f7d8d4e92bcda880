// Retrieval for a request: embed the input with the catalog's active encoder, search the
// adapters the caller may use (its team's and PUBLIC ones, for the base model, ACTIVE only)
// through the HNSW index, and weight the top k for mixture. While a re-embedding job fills
// in a new encoder's vectors, the active encoder (and its vectors) keep serving; the job
// switches the active encoder when it completes (reembed-job.ts).

import type { PoolOwner } from "../auth/policy.js";
import type { EmbeddingStore } from "../catalog/embeddings.js";
import { embedAdapter } from "./adapter-embedding.js";
import type { SentenceEncoder, Truncation } from "./encoder.js";
import { RetrieverError, RetrieverErrorCode } from "./errors.js";
import { mixtureWeights, UNIFORM, type Weighting } from "./mixture-weights.js";

export const MAX_K = 50;

export interface RetrieveRequest {
  input: string;
  /** Adapters to return (the paper's default: 3). */
  k?: number;
  /** Whose pool is searched: a request's scope from the gate, or an offline tool's team. */
  pool: PoolOwner;
  baseModelId: string;
  /** Adapter ids to leave out (the paper's OOD setting). */
  exclude?: readonly string[];
  weighting?: Weighting;
  efSearch?: number;
}

export interface RetrievedAdapter {
  adapterId: string;
  name: string;
  /** Cosine similarity of the input and the adapter's embedding. */
  score: number;
  /** Mixture weight; the weights of one result sum to 1. */
  weight: number;
}

export interface RetrieveResult {
  adapters: RetrievedAdapter[];
  /** The encoder whose vectors answered. */
  encoderId: string;
  /** Set when the input was cut before encoding. */
  truncation?: Omit<Truncation, "index">;
}

/** How long the active encoder's id is trusted before it is read again (other replicas may switch it). */
const ACTIVE_TTL_MS = 5_000;

export class Retriever {
  private readonly encoders = new Map<string, SentenceEncoder>();
  private active: { id: string; at: number } | undefined;

  /** `encoders`: every encoder this process has loaded (the configured one, and older ones it can still run). */
  constructor(
    private readonly store: EmbeddingStore,
    encoders: readonly SentenceEncoder[],
  ) {
    for (const e of encoders) this.encoders.set(e.identity, e);
  }

  /** Forget the cached active encoder (a job just switched it). */
  refresh(): void {
    this.active = undefined;
  }

  /** The encoder queries use now: the catalog's active one, if this process can run it. */
  async activeEncoder(): Promise<SentenceEncoder> {
    const now = Date.now();
    if (!this.active || now - this.active.at > ACTIVE_TTL_MS) {
      const record = await this.store.activeEncoder();
      if (!record) {
        throw new RetrieverError(RetrieverErrorCode.ENCODER_NOT_REGISTERED, "no active encoder in the catalog yet: the first embedding job has not finished");
      }
      this.active = { id: record.id, at: now };
    }
    const encoder = this.encoders.get(this.active.id);
    if (!encoder) {
      throw new RetrieverError(
        RetrieverErrorCode.ENCODER_NOT_REGISTERED,
        `the catalog's active encoder ${this.active.id} is not loaded in this process (loaded: ${[...this.encoders.keys()].join(", ")})`,
      );
    }
    return encoder;
  }

  async retrieve(req: RetrieveRequest): Promise<RetrieveResult> {
    const k = req.k ?? 3;
    if (!Number.isInteger(k) || k < 1 || k > MAX_K)
      throw new RetrieverError(RetrieverErrorCode.BAD_REQUEST, `k must be a whole number in 1..${MAX_K}, got ${k}`);
    const weighting = req.weighting ?? UNIFORM;
    mixtureWeights([0], weighting); // validates the weighting before any work
    const encoder = await this.activeEncoder();
    const { vectors, truncations } = await encoder.encode([req.input]);
    const hits = await this.store.search(
      encoder.identity,
      vectors[0]!,
      k,
      { pool: req.pool, baseModelId: req.baseModelId, exclude: req.exclude },
      { efSearch: req.efSearch },
    );
    const weights = mixtureWeights(
      hits.map((h) => h.score),
      weighting,
    );
    const truncation = truncations[0] ? (({ index: _index, ...rest }) => rest)(truncations[0]) : undefined;
    return { adapters: hits.map((h, i) => ({ ...h, weight: weights[i]! })), encoderId: encoder.identity, ...(truncation ? { truncation } : {}) };
  }

  /**
   * Recomputes one adapter's embedding after its samples changed, under every loaded encoder
   * that serves (active) or is being filled in (an unfinished job). Throws the sample checks'
   * coded errors (TOO_FEW_SAMPLES, DUPLICATE_SAMPLES, ...).
   */
  async refreshAdapter(adapterId: string): Promise<string[]> {
    const samples = await this.store.adapterSamples(adapterId);
    const active = await this.store.activeEncoder();
    const updated: string[] = [];
    for (const encoder of this.encoders.values()) {
      const wanted = encoder.identity === active?.id || (await this.store.unfinishedJob(encoder.identity)) !== null;
      if (!wanted) continue;
      const e = await embedAdapter(encoder, samples);
      await this.store.upsertEmbedding({ adapterId, encoderId: encoder.identity, vector: e.vector, samplesHash: e.samplesHash });
      updated.push(encoder.identity);
    }
    return updated;
  }
}
