// The sentence encoder this server embeds adapters with (QUIVER_ENCODER; the bundled USE-lite
// encoder by default), registered in the catalog.
import type { SentenceEncoder } from "./retriever/encoder.js";
import { encoderConfigFromEnv, loadEncoder } from "./retriever/encoder-factory.js";
import { describeEncoder } from "./retriever/encoder.js";
import { embedAdapter } from "./retriever/adapter-embedding.js";
import type { EmbeddingStore } from "./catalog/embeddings.js";

export interface AdapterEmbedder {
  readonly encoderId: string;
  readonly encoder: SentenceEncoder;
  /** Normalised mean embedding of the samples (checks them first); stored under this encoder. */
  embedAndStore(adapterId: string, samples: string[]): Promise<void>;
  /** Computes without storing (to validate before a write). */
  embed(samples: string[]): Promise<{ vector: Float32Array; samplesHash: string }>;
  store(adapterId: string, e: { vector: Float32Array; samplesHash: string }): Promise<void>;
  close(): Promise<void>;
}

export async function openEmbedder(store: EmbeddingStore, encoder?: SentenceEncoder): Promise<AdapterEmbedder> {
  const enc = encoder ?? (await loadEncoder(encoderConfigFromEnv()));
  const d = describeEncoder(enc);
  await store.registerEncoder({ identity: d.identity, kind: d.kind, name: d.name, dimension: d.dimension, prefix: d.prefix });
  if (!(await store.activeEncoder())) await store.activateEncoder(d.identity);
  await store.ensureDimensionIndex(d.dimension);
  const embed = async (samples: string[]) => {
    const r = await embedAdapter(enc, samples);
    return { vector: r.vector, samplesHash: r.samplesHash };
  };
  const storeOne = (adapterId: string, e: { vector: Float32Array; samplesHash: string }) =>
    store.upsertEmbedding({ adapterId, encoderId: d.identity, vector: e.vector, samplesHash: e.samplesHash });
  return {
    encoderId: d.identity,
    encoder: enc,
    embed,
    store: storeOne,
    embedAndStore: async (adapterId, samples) => storeOne(adapterId, await embed(samples)),
    close: () => enc.close(),
  };
}
