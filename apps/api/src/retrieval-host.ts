// The sentence encoders of this server, registered in the catalog:
//  - the configured one (QUIVER_ENCODER, QUIVER_ENCODER_PREFIX, QUIVER_RETRIEVER_HEAD; the
//    bundled USE-lite encoder by default, with the served zoo's retriever head on top when the
//    zoo has one), which embeds every adapter;
//  - while a re-embedding job moves the pool to a newly configured encoder, the catalog's
//    active (previous) encoder too, when it can be rebuilt from its record (USE-lite with its
//    prefix, or a head in one of the folders the server knows, such as the zoo's, on USE-lite),
//    so retrieval keeps answering from the old vectors and new adapters are retrievable under
//    both until the job switches the active encoder.
import type { SentenceEncoder } from "./retriever/encoder.js";
import { describeEncoder } from "./retriever/encoder.js";
import { encoderConfigFromEnv, loadEncoder, type EncoderConfig } from "./retriever/encoder-factory.js";
import { embedAdapter, samplesHash } from "./retriever/adapter-embedding.js";
import { reembedPool } from "./retriever/reembed-job.js";
import { UseLiteEncoder } from "./retriever/use-lite/use-lite-encoder.js";
import { HeadEncoder, readHeadManifest } from "./retriever/head/head-encoder.js";
import type { EmbeddingStore } from "./catalog/embeddings.js";

/** An adapter's embedding under each serving encoder (opaque to callers). */
export interface Embedded {
  samplesHash: string;
  vectors: Map<string, Float32Array>;
}

export interface AdapterEmbedder {
  readonly encoderId: string;
  readonly encoder: SentenceEncoder;
  /** Every encoder loaded here (the configured one first): what retrieval may run. */
  readonly encoders: readonly SentenceEncoder[];
  /** Normalised mean embedding of the samples (checks them first), stored under each encoder. */
  embedAndStore(adapterId: string, samples: string[]): Promise<void>;
  /** Computes without storing (to validate before a write). */
  embed(samples: string[]): Promise<Embedded>;
  store(adapterId: string, e: Embedded): Promise<void>;
  /** Resolves when the background re-embedding (if any) has finished or stopped. */
  readonly reembedding: Promise<void>;
  close(): Promise<void>;
}

/**
 * The catalog's active head encoder rebuilt from one of `dirs`: the folder whose head.onnx
 * gives its identity, on USE-lite with its prefix. Undefined when none does.
 */
async function loadKnownHead(active: { id: string; prefix: string }, dirs: readonly string[]): Promise<SentenceEncoder | undefined> {
  for (const dir of dirs) {
    let base: SentenceEncoder | undefined;
    try {
      if (!active.id.startsWith(`head:${readHeadManifest(dir).sha256.slice(0, 16)}@use-lite@`)) continue;
      base = await UseLiteEncoder.load({ prefix: active.prefix });
      const head = await HeadEncoder.load(dir, base, { ownsBase: true });
      if (head.identity === active.id) return head;
      await head.close();
    } catch {
      await base?.close();
    }
  }
  return undefined;
}

export async function openEmbedder(
  store: EmbeddingStore,
  options: {
    encoder?: SentenceEncoder;
    encoderConfig?: EncoderConfig;
    /** Head folders the previous encoder may have come from (the served zoo's), configured or not. */
    knownHeads?: readonly string[];
    log?: (line: string) => void;
    onActivated?: () => void;
  } = {},
): Promise<AdapterEmbedder> {
  const log = options.log ?? (() => {});
  const configured = options.encoder ?? (await loadEncoder(options.encoderConfig ?? encoderConfigFromEnv(), log));
  const d = describeEncoder(configured);
  await store.registerEncoder({ identity: d.identity, kind: d.kind, name: d.name, dimension: d.dimension, prefix: d.prefix });
  await store.ensureDimensionIndex(d.dimension);
  const active = await store.activeEncoder();
  if (!active) await store.activateEncoder(d.identity);

  const encoders: SentenceEncoder[] = [configured];
  const abort = new AbortController();
  let reembedding: Promise<void> = Promise.resolve();
  if (active && active.id !== d.identity) {
    const previous =
      active.kind === "use-lite"
        ? await UseLiteEncoder.load({ prefix: active.prefix })
        : active.kind === "head"
          ? await loadKnownHead(active, options.knownHeads ?? [])
          : undefined;
    if (previous) {
      encoders.push(previous);
    } else {
      log(`[quiver] warning: the catalog's active encoder ${active.id} cannot be loaded here; retrieval waits for the re-embedding to finish.`);
    }
    const meanwhile = encoders.length > 1 ? `retrieval uses ${active.id} until it completes` : "retrieval waits until it completes";
    log(`[quiver] re-embedding the pool under ${d.identity} in the background (${meanwhile})`);
    reembedding = reembedPool(store, configured, {
      signal: abort.signal,
      onProgress: (p) => log(`[quiver] re-embedding: ${p.done} of ${p.total} adapters`),
    })
      .then((o) => {
        if (!o.interrupted) {
          log(`[quiver] re-embedding done (${o.embedded} embedded, ${o.skippedCurrent} current); ${d.identity} is now the active encoder`);
          options.onActivated?.();
        }
      })
      .catch((err: unknown) => log(`[quiver] re-embedding failed (it resumes at the next start): ${(err as Error).message}`));
  }

  const embed = async (samples: string[]): Promise<Embedded> => {
    const vectors = new Map<string, Float32Array>();
    for (const e of encoders) vectors.set(e.identity, (await embedAdapter(e, samples)).vector);
    return { samplesHash: samplesHash(samples), vectors };
  };
  const storeAll = async (adapterId: string, e: Embedded) => {
    for (const [encoderId, vector] of e.vectors) await store.upsertEmbedding({ adapterId, encoderId, vector, samplesHash: e.samplesHash });
  };
  return {
    encoderId: d.identity,
    encoder: configured,
    encoders,
    embed,
    store: storeAll,
    embedAndStore: async (adapterId, samples) => storeAll(adapterId, await embed(samples)),
    reembedding,
    close: async () => {
      abort.abort();
      await reembedding;
      for (const e of encoders) await e.close();
    },
  };
}
