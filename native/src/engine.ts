// The engine's TypeScript face: validates at the edge, converts once into what the
// binding reads (typed arrays, numeric enums), and turns native failures into EngineErrors
// with codes. Every call runs on the engine's own thread and promises settle in call order,
// except loadAdapter, whose reading runs beside the other calls (see loadAdapter).
import { existsSync } from "node:fs";
import path from "node:path";

import { loadBinding, type CudaStatus, type NativeEngine, type NativeInfo, type NativeTestState } from "./binding.js";
import { check, EngineError, toEngineError } from "./errors.js";
import { TextTokenizer } from "./tokenizer.js";

/** auto: CUDA when a GPU answers, else the CPU (logged); cuda-emulated: the CUDA backend's
 * code and kernels run on the host, one output per loop iteration (slow; for tests). */
export type Device = "auto" | "cpu" | "cpu-reference" | "cuda" | "cuda-emulated";
/** Composition of a sample's adapters (include/quiver.h, quiver_strategy). */
export type Strategy = "none" | "mixture" | "fusion" | "fusion-cat" | "selection";
/** gather: each sample reads only its own adapters; dense: the paper's formulation. */
export type LoraKernel = "gather" | "dense";
export type FinishReason = "stop" | "length" | "context" | "cancelled";

const DEVICES: Record<Device, number> = { auto: 0, cpu: 1, "cpu-reference": 2, cuda: 3, "cuda-emulated": 4 };
const STRATEGIES: Record<Strategy, number> = { none: 0, mixture: 1, fusion: 2, "fusion-cat": 3, selection: 4 };
const KERNELS: Record<LoraKernel, number> = { gather: 0, dense: 1 };

export interface EngineOptions {
  device?: Device;
  /** CPU threads (0 = all). */
  threads?: number;
  /** Adapters resident at once (default 16). */
  adapterSlots?: number;
  /** Adapter rank limit (default 64). */
  maxRank?: number;
  /** Adapter size limit in f32 bytes (default 1 GiB). */
  maxAdapterBytes?: number;
  /** Context length (default: the model's max_position_embeddings). */
  maxContext?: number;
  /**
   * Tokens one forward pass processes at most (default 2048): a step whose items bring more
   * runs several passes, its prefills chunked to fit, with the same results. It bounds what a
   * step's activations, attention scores and LoRA entries take.
   */
  maxStepTokens?: number;
  /**
   * The fused adapters (strategies fusion and fusion-cat, one per sequence) of all sequences
   * together, in f32 bytes (default 2 GiB). An item past it fails with NO_FREE_SLOT until
   * other sequences free theirs; one whose fused adapter alone is larger, with SIZE_LIMIT.
   */
  maxFusedBytes?: number;
  /** The fast CPU path's portable kernels even where AVX2 runs (tests; QUIVER_CPU_ISA=generic too). */
  cpuGeneric?: boolean;
  /** The CUDA devices' products: "auto" (cuBLAS where libcublas loads, else Quiver's tiled
   * kernels), "off" (the tiled kernels), "emulate" (cuda-emulated: the cuBLAS calls on a host
   * stand-in for cuBLAS, for tests) or a path to libcublas. Default: $QUIVER_CUBLAS, else auto. */
  cublas?: string;
  /** Tests only: installs the engine's fault hook (setTestFaults, testState). Never set in production. */
  testFaults?: boolean;
}

/** The test-only fault hook's plan (include/quiver.h, quiver_test_faults); a field left out is off. */
export interface TestFaults {
  /** The backend allocation after the next `failAlloc` ones fails with OUT_OF_MEMORY, once. */
  failAlloc?: number;
  /** The adapter module upload after the next `failUpload` ones fails with OUT_OF_MEMORY, once. */
  failUpload?: number;
  /** Every logits row gets `logitValue` at this token before sampling (until the faults change). */
  logitIndex?: number;
  logitValue?: number;
}

export type TestState = NativeTestState;

export type ModelInfo = NativeInfo;

export interface Sampling {
  /** 0 = greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  /** The sequence's RNG seed: same seed, same tokens. */
  seed?: number;
}

/** One (adapter, weight) pair of a sample's mapping. */
export interface AdapterWeight {
  adapter: number;
  weight: number;
}

export interface StepItem {
  sequence: number;
  /** A prefill chunk or one decode token. */
  tokens: ArrayLike<number>;
  strategy?: Strategy;
  adapters?: AdapterWeight[];
  /** Sample the next token with the sequence's sampler (default true). */
  sample?: boolean;
}

export interface StepResult {
  ok: boolean;
  /** Set when the item failed; the rest of the batch still ran. */
  error?: EngineError;
  /** The sampled token, or -1. */
  token: number;
}

export interface GenerateOptions extends Sampling {
  maxTokens?: number;
  /** Default: the model's eos_token_id(s). */
  stopTokens?: number[];
  strategy?: Strategy;
  adapters?: AdapterWeight[];
  /** Tokens per prefill step (default 256). */
  prefillChunk?: number;
  onToken?: (token: number) => void;
}

export interface Generation {
  tokens: number[];
  finishReason: FinishReason;
}

function int(v: number | undefined, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const x = v ?? 0;
  check(Number.isInteger(x) && x >= min && x <= max, `${name} must be an integer in [${min}, ${max}]`);
  return x;
}

export class Engine {
  readonly info: ModelInfo;
  /** The folder's tokenizer.json, when it has one. */
  readonly tokenizer: TextTokenizer | undefined;

  private constructor(
    private readonly native: NativeEngine,
    readonly modelDir: string,
    tokenizer: TextTokenizer | undefined,
  ) {
    this.info = native.info();
    this.tokenizer = tokenizer;
  }

  /** Loads a Hugging Face Llama-family folder (the weights load off the JS thread). */
  static async open(modelDir: string, options: EngineOptions = {}): Promise<Engine> {
    const device = options.device ?? "auto";
    check(device in DEVICES, `device must be one of ${Object.keys(DEVICES).join(", ")}`);
    const dir = path.resolve(modelDir);
    const tokenizer = existsSync(path.join(dir, "tokenizer.json")) ? TextTokenizer.load(dir) : undefined;
    try {
      const native = await loadBinding().open({
        modelDir: dir,
        device: DEVICES[device],
        threads: int(options.threads, "threads", 0, 1024),
        adapterSlots: int(options.adapterSlots, "adapterSlots", 0, 4096),
        maxRank: int(options.maxRank, "maxRank", 0, 65536),
        maxAdapterBytes: int(options.maxAdapterBytes, "maxAdapterBytes", 0),
        maxContext: int(options.maxContext, "maxContext", 0),
        maxStepTokens: int(options.maxStepTokens, "maxStepTokens", 0, 1 << 20),
        maxFusedBytes: int(options.maxFusedBytes, "maxFusedBytes", 0),
        cpuGeneric: options.cpuGeneric ?? false,
        cublas: options.cublas ?? "",
        testFaults: options.testFaults ?? false,
      });
      return new Engine(native, dir, tokenizer);
    } catch (err) {
      throw toEngineError(err);
    }
  }

  /** Whether this build has the CUDA backend, whether a GPU answers (and why not), and whether
   * libcublas loads for the `cublas` setting (as EngineOptions.cublas; no GPU needed to load it). */
  static cudaStatus(cublas = ""): CudaStatus {
    return loadBinding().cudaStatus(cublas);
  }

  private async call<T>(p: () => Promise<T>): Promise<T> {
    try {
      return await p();
    } catch (err) {
      throw toEngineError(err);
    }
  }

  /**
   * Validates a PEFT folder against the base model and registers it; resolves to its id.
   * The folder is read and validated on a loader thread of the engine's, beside steps and
   * other calls (only the registration waits its turn on the engine thread), so a large
   * adapter does not hold up running generations; it may resolve after calls made later.
   * With `prepare`, on the CPU devices, the adapter is also laid out in the backend's layout
   * there, so that the step that first uses it copies nothing (on CUDA the copy to the GPU
   * stays with that step). Validation alone (load, inspect, unload) leaves it off.
   */
  async loadAdapter(dir: string, options: { prepare?: boolean } = {}): Promise<number> {
    check(typeof dir === "string" && dir.length > 0, "loadAdapter needs a folder");
    return this.call(() => this.native.loadAdapter(path.resolve(dir), options.prepare ?? false));
  }

  async unloadAdapter(id: number): Promise<void> {
    return this.call(() => this.native.freeAdapter(int(id, "adapter id", 0)));
  }

  async adapterInfo(id: number) {
    return this.call(() => this.native.adapterInfo(int(id, "adapter id", 0)));
  }

  async createSequence(sampling: Sampling = {}): Promise<number> {
    const temperature = sampling.temperature ?? 0;
    const topP = sampling.topP ?? 1;
    check(Number.isFinite(temperature) && temperature >= 0, "temperature must be >= 0");
    check(Number.isFinite(topP) && topP >= 0 && topP <= 1, "topP must be in [0, 1]");
    const topK = int(sampling.topK, "topK", 0, 1 << 30);
    const seed = int(sampling.seed, "seed", 0);
    return this.call(() => this.native.createSequence({ temperature, topK, topP, seed }));
  }

  /** Frees the sequence and its KV cache. */
  async freeSequence(id: number): Promise<void> {
    return this.call(() => this.native.freeSequence(int(id, "sequence id", 0)));
  }

  /** Stops a running generation at its next token; later steps on it fail with CANCELLED. */
  cancelSequence(id: number): void {
    this.native.cancelSequence(int(id, "sequence id", 0));
  }

  async sequenceLength(id: number): Promise<number> {
    return this.call(() => this.native.sequenceLength(int(id, "sequence id", 0)));
  }

  private mapping(adapters: AdapterWeight[] | undefined): { id: number; weight: number }[] {
    return (adapters ?? []).map((a) => {
      check(Number.isFinite(a.weight), "adapter weights must be finite");
      return { id: int(a.adapter, "adapter id", 0), weight: a.weight };
    });
  }

  private strategy(s: Strategy | undefined, adapters: AdapterWeight[] | undefined): number {
    const name = s ?? (adapters && adapters.length > 0 ? "mixture" : "none");
    check(name in STRATEGIES, `strategy must be one of ${Object.keys(STRATEGIES).join(", ")}`);
    return STRATEGIES[name];
  }

  /**
   * One forward pass over sequences that each bring new tokens and their own adapter
   * mapping. With `logits`, also returns (items, vocab) logits after each item's last token.
   */
  async step(items: StepItem[], options: { kernel?: LoraKernel; logits?: boolean } = {}): Promise<{ results: StepResult[]; logits: Float32Array | null }> {
    const kernel = options.kernel ?? "gather";
    check(kernel in KERNELS, "kernel must be gather or dense");
    const native = items.map((it) => ({
      seqId: int(it.sequence, "sequence id", 0),
      tokens: Int32Array.from(it.tokens),
      strategy: this.strategy(it.strategy, it.adapters),
      adapters: this.mapping(it.adapters),
      sample: it.sample ?? true,
    }));
    const out = await this.call(() => this.native.step(native, KERNELS[kernel], options.logits ?? false));
    return {
      results: out.results.map((r) =>
        r.status === "OK"
          ? { ok: true, token: r.token }
          : { ok: false, token: -1, error: toEngineError(Object.assign(new Error(r.message), { code: r.status })) },
      ),
      logits: out.logits,
    };
  }

  /** Prefills `prompt` on the sequence and decodes in native code until a stop condition. */
  async generate(sequence: number, prompt: ArrayLike<number>, options: GenerateOptions = {}): Promise<Generation> {
    check(prompt.length > 0, "generate needs at least one prompt token");
    const stop = options.stopTokens ?? this.info.eosTokenIds;
    const out = await this.call(() =>
      this.native.generate(
        int(sequence, "sequence id", 0),
        {
          prompt: Int32Array.from(prompt),
          maxTokens: int(options.maxTokens ?? 256, "maxTokens", 0, 1 << 24),
          stopTokens: Int32Array.from(stop),
          strategy: this.strategy(options.strategy, options.adapters),
          adapters: this.mapping(options.adapters),
          prefillChunk: int(options.prefillChunk, "prefillChunk", 0, 1 << 16),
        },
        options.onToken,
      ),
    );
    return { tokens: Array.from(out.tokens), finishReason: out.finishReason };
  }

  /**
   * Text in, text out: encodes `prompt` after BOS (an empty prompt is BOS alone), generates
   * on a fresh sequence with the given sampling, and frees it. onText receives the text as
   * it becomes final.
   */
  async generateText(prompt: string, options: GenerateOptions & { onText?: (delta: string) => void } = {}): Promise<Generation & { text: string }> {
    const tok = this.tokenizer;
    if (!tok) throw new EngineError("FILE_MISSING", `${this.modelDir} has no tokenizer.json`);
    const ids = tok.encodePrompt(prompt);
    const bos = this.info.bosTokenId;
    const promptIds = bos >= 0 ? [bos, ...ids] : ids;
    if (promptIds.length === 0) throw new EngineError("INVALID_ARGUMENT", "empty prompt and the model has no bos_token_id");
    if (promptIds.length > this.info.maxContext)
      throw new EngineError("CONTEXT_OVERFLOW", `the prompt has ${promptIds.length} tokens; the context holds ${this.info.maxContext}`);
    const seq = await this.createSequence(options);
    const stream = tok.streamDecoder();
    try {
      const gen = await this.generate(seq, promptIds, {
        ...options,
        onToken: (t) => {
          options.onToken?.(t);
          const delta = stream.push(t);
          if (delta) options.onText?.(delta);
        },
      });
      const rest = stream.flush();
      if (rest) options.onText?.(rest);
      return { ...gen, text: tok.decode(gen.tokens) };
    } finally {
      await this.freeSequence(seq);
    }
  }

  /** Read bandwidth of this machine's memory with the engine's threads, in GB/s. */
  async measureBandwidth(bytes: number, repeats: number): Promise<number> {
    return this.call(() => this.native.measureBandwidth(int(bytes, "bytes", 1), int(repeats, "repeats", 1)));
  }

  /**
   * f32 multiply-add throughput of the engine's threads in GFLOP/s (a multiply-add is 2 FLOP):
   * the fastest of `repeats` passes of about `seconds` each. Rejects with UNSUPPORTED on
   * devices without a probe (CUDA, cpu-reference).
   */
  async measureCompute(seconds: number, repeats: number): Promise<number> {
    if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= 10)) throw new EngineError("INVALID_ARGUMENT", `seconds must be in (0, 10], got ${seconds}`);
    return this.call(() => this.native.measureCompute(seconds, int(repeats, "repeats", 1)));
  }

  /** Tests only (opened with testFaults): replaces the armed faults; INVALID_ARGUMENT otherwise. */
  async setTestFaults(faults: TestFaults): Promise<void> {
    const off = (v: number | undefined, name: string) => (v === undefined ? -1 : int(v, name, 0, 1 << 30));
    const logitValue = faults.logitValue ?? 0;
    check(typeof logitValue === "number", "logitValue must be a number");
    return this.call(() =>
      this.native.setTestFaults({
        failAlloc: off(faults.failAlloc, "failAlloc"),
        failUpload: off(faults.failUpload, "failUpload"),
        logitIndex: off(faults.logitIndex, "logitIndex"),
        logitValue,
      }),
    );
  }

  /** Tests only (opened with testFaults): the backend allocations the engine holds, the last
   * step's forward passes and what the device backend's step buffers needed. */
  async testState(): Promise<TestState> {
    return this.call(() => this.native.testState());
  }

  /** Frees the engine after the calls already made; later calls reject. */
  async close(): Promise<void> {
    return this.call(() => this.native.close());
  }
}
