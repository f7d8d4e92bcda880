// What the scheduler needs from an engine: one typed contract, so the scheduler runs against
// the native engine in production and against a small fake in its unit tests (and, in fault
// tests only, through engine-faults.ts's FaultInjectingPort around either).
import { Engine, EngineError, type Strategy, type TextTokenizer } from "@quiver/engine";

export type { Strategy };

export interface SamplingParams {
  /** 0 = greedy */
  temperature: number;
  topK: number;
  topP: number;
  seed: number;
}

export interface PortStepItem {
  sequence: number;
  tokens: number[];
  strategy: Strategy;
  adapters: { adapter: number; weight: number }[];
  /** Sample a token after this item (false for prefill chunks before the prompt's end). */
  sample: boolean;
}

export interface PortStepResult {
  ok: boolean;
  /** The sampled token, or -1 */
  token: number;
  error?: { code: string; message: string };
}

export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

export interface EnginePort {
  readonly maxContext: number;
  readonly bosTokenId: number;
  readonly eosTokenIds: readonly number[];
  /** How many distinct adapters one step may use. */
  readonly adapterSlots: number;
  /** Token ids of a generation prompt, inside the model's prompt template when it has one. */
  encode(text: string): number[];
  streamDecoder(): StreamDecoder;
  loadAdapter(dir: string): Promise<number>;
  unloadAdapter(id: number): Promise<void>;
  createSequence(sampling: SamplingParams): Promise<number>;
  freeSequence(id: number): Promise<void>;
  cancelSequence(id: number): void;
  step(items: PortStepItem[]): Promise<PortStepResult[]>;
  /**
   * Re-creates the engine (the scheduler calls it after repeated failed steps): the same
   * model and options, nothing of the old one's state. Every sequence and adapter id of the
   * old engine is gone (new ones may reuse the numbers); the caller loads its adapters again.
   */
  reset(): Promise<void>;
}

export interface NativeEnginePortOptions {
  /** Opens a fresh engine for reset() and closes the old one (ModelHost.reopen in production). */
  reopen?: () => Promise<Engine>;
}

export class NativeEnginePort implements EnginePort {
  readonly maxContext: number;
  readonly bosTokenId: number;
  readonly eosTokenIds: readonly number[];
  readonly adapterSlots: number;
  private readonly tokenizer: TextTokenizer;

  constructor(
    private engine: Engine,
    private readonly options: NativeEnginePortOptions = {},
  ) {
    if (!engine.tokenizer) throw new EngineError("FILE_MISSING", "the model has no tokenizer.json, so it cannot serve text");
    this.tokenizer = engine.tokenizer;
    this.maxContext = engine.info.maxContext;
    this.bosTokenId = engine.info.bosTokenId;
    this.eosTokenIds = engine.info.eosTokenIds;
    this.adapterSlots = Math.max(1, engine.info.adapterSlots);
  }

  encode(text: string): number[] {
    return this.tokenizer.encodePrompt(text);
  }

  streamDecoder(): StreamDecoder {
    return this.tokenizer.streamDecoder();
  }

  /** Read and laid out beside the steps (prepare): the step that first uses it copies nothing on the CPU devices. */
  loadAdapter(dir: string): Promise<number> {
    return this.engine.loadAdapter(dir, { prepare: true });
  }

  unloadAdapter(id: number): Promise<void> {
    return this.engine.unloadAdapter(id);
  }

  createSequence(s: SamplingParams): Promise<number> {
    return this.engine.createSequence(s);
  }

  freeSequence(id: number): Promise<void> {
    return this.engine.freeSequence(id);
  }

  cancelSequence(id: number): void {
    this.engine.cancelSequence(id);
  }

  async step(items: PortStepItem[]): Promise<PortStepResult[]> {
    const { results } = await this.engine.step(
      items.map((i) => ({ sequence: i.sequence, tokens: i.tokens, strategy: i.strategy, adapters: i.adapters, sample: i.sample })),
    );
    return results.map((r) =>
      r.ok ? { ok: true, token: r.token } : { ok: false, token: -1, error: { code: r.error?.code ?? "INTERNAL", message: r.error?.message ?? "step failed" } },
    );
  }

  async reset(): Promise<void> {
    if (!this.options.reopen) throw new EngineError("UNSUPPORTED", "this engine port cannot re-create its engine (no reopen)");
    const vocab = this.engine.info.vocabSize;
    this.engine = await this.options.reopen();
    // The same folder and options, so the same limits and tokenizer; anything else means the
    // model changed on disk under a running server.
    if (this.engine.info.maxContext !== this.maxContext || this.engine.info.vocabSize !== vocab) {
      throw new EngineError("BASE_MISMATCH", "the re-created engine does not serve the model the server started with");
    }
  }
}
