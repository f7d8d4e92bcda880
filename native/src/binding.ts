// The only module that loads the native binary (native/build/Release/quiver.node); the
// rest of the repository goes through @quiver/engine. Types mirror binding/addon.cpp.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { EngineError } from "./errors.js";

export interface NativeInfo {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  maxContext: number;
  bosTokenId: number;
  eosTokenIds: number[];
  tiedEmbeddings: boolean;
  numParameters: number;
  weightBytes: number;
  device: string;
  /** The kernel set: "avx2" or "generic" (fast CPU path), "reference", "cuda". */
  kernels: string;
  deviceNote: string;
  threads: number;
  adapterSlots: number;
  /** tokens one forward pass processes at most */
  maxStepTokens: number;
}

export interface NativeAdapterInfo {
  id: number;
  maxRank: number;
  numModules: number;
  resident: boolean;
  slot: number;
  alpha: number;
  useRslora: boolean;
  /** f32 bytes of its A and B matrices */
  bytes: number;
  /** what its slot holds (half of `bytes` where the fast CPU path keeps it in 16-bit lanes); 0 when not resident */
  residentBytes: number;
}

export interface NativeStepItem {
  seqId: number;
  tokens: Int32Array;
  strategy: number;
  adapters: { id: number; weight: number }[];
  sample: boolean;
}

export interface NativeStepOutput {
  results: { status: string; token: number; message: string }[];
  logits: Float32Array | null;
}

export interface NativeGenerateRequest {
  prompt: Int32Array;
  maxTokens: number;
  stopTokens: Int32Array;
  strategy: number;
  adapters: { id: number; weight: number }[];
  prefillChunk: number;
}

export interface NativeEngine {
  info(): NativeInfo;
  /** Read (and, with prepare, laid out) on the engine's loader thread beside steps; registered on the engine thread. */
  loadAdapter(dir: string, prepare?: boolean): Promise<number>;
  freeAdapter(id: number): Promise<void>;
  adapterInfo(id: number): Promise<NativeAdapterInfo>;
  createSequence(sampling: { temperature: number; topK: number; topP: number; seed: number }): Promise<number>;
  freeSequence(id: number): Promise<void>;
  cancelSequence(id: number): void;
  sequenceLength(id: number): Promise<number>;
  step(items: NativeStepItem[], kernel: number, wantLogits: boolean): Promise<NativeStepOutput>;
  generate(
    seqId: number,
    request: NativeGenerateRequest,
    onToken?: (token: number) => void,
  ): Promise<{ tokens: Int32Array; finishReason: "stop" | "length" | "context" | "cancelled" }>;
  measureBandwidth(bytes: number, repeats: number): Promise<number>;
  measureCompute(seconds: number, repeats: number): Promise<number>;
  /** Tests only (opened with testFaults). */
  setTestFaults(faults: NativeTestFaults): Promise<void>;
  testState(): Promise<NativeTestState>;
  close(): Promise<void>;
}

/** The test-only fault hook (include/quiver.h, quiver_test_faults); -1 is off. */
export interface NativeTestFaults {
  failAlloc: number;
  failUpload: number;
  logitIndex: number;
  logitValue: number;
}

export interface NativeTestState {
  /** backend allocations the engine holds, and their bytes */
  liveAllocations: number;
  liveBytes: number;
  /** forward passes the last step ran, and the rows (tokens) of its largest */
  stepPasses: number;
  stepMaxRows: number;
  /** the device backend: what the last pass asked for its LoRA scratch and attention scores (0 elsewhere) */
  loraScratchBytes: number;
  scoreBytes: number;
}

export interface CudaStatus {
  /** whether this build has the CUDA backend */
  compiled: boolean;
  /** whether a GPU answers, and why not */
  available: boolean;
  reason: string;
  /** whether libcublas loads (it needs no GPU to load): its version and path, or why not */
  cublas: { loaded: boolean; version?: string; reason?: string };
}

export interface NativeOpenOptions {
  modelDir: string;
  device: number;
  threads: number;
  adapterSlots: number;
  maxRank: number;
  maxAdapterBytes: number;
  maxContext: number;
  maxStepTokens: number;
  maxFusedBytes: number;
  cpuGeneric: boolean;
  /** "" = $QUIVER_CUBLAS */
  cublas: string;
  /** tests only: installs the fault hook */
  testFaults: boolean;
}

export interface NativeTensorInfo {
  name: string;
  shape: number[];
  numel: number;
  trainable: boolean;
}

export interface NativeTrainStats {
  loss: number;
  targets: number;
  gradNorm: number;
  step: number;
}

export interface NativeTrainer {
  tensors(): NativeTensorInfo[];
  /** part: 0 value, 1 gradient, 2 Adam m, 3 Adam v */
  read(index: number, part: number): Float64Array;
  write(index: number, part: number, data: Float64Array): void;
  loss(tokens: Int32Array, targets: Int32Array, batch: number, seqLen: number, loraWeight?: number): Promise<NativeTrainStats>;
  backward(tokens: Int32Array, targets: Int32Array, batch: number, seqLen: number, loraWeight?: number): Promise<NativeTrainStats>;
  step(tokens: Int32Array, targets: Int32Array, batch: number, seqLen: number, lr: number, loraWeight?: number): Promise<NativeTrainStats>;
  setStep(step: number): void;
  /** What runs the passes (the CUDA devices: cuBLAS or not); "" when there is nothing to say. */
  deviceNote(): string;
  close(): void;
}

export interface NativeTrainerOptions {
  modelDir: string;
  /** 0 full, 1 LoRA */
  mode: number;
  initRandom: boolean;
  rank: number;
  alpha: number;
  rslora: boolean;
  /** bit m: q, k, v, o, gate, up, down */
  modules: number;
  seed: number;
  threads: number;
  /** 32 or 64 */
  precision: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  clip: number;
  /** 0 CPU, 1 CUDA, 2 the CUDA trainer's kernels run on the host */
  device: number;
}

export interface NativeBinding {
  open(options: NativeOpenOptions): Promise<NativeEngine>;
  openTrainer(options: NativeTrainerOptions): Promise<NativeTrainer>;
  cudaStatus(cublas: string): CudaStatus;
}

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const BINARY_PATH = path.join(packageRoot, "build", "Release", "quiver.node");

let binding: NativeBinding | undefined;

/** Loads the addon once; explains how to build it when it is missing. */
export function loadBinding(): NativeBinding {
  if (binding) return binding;
  if (!existsSync(BINARY_PATH)) {
    throw new EngineError(
      "BINARY_MISSING",
      `the native engine is not built (${BINARY_PATH} is missing). It builds during \`npm ci\`; ` +
        "rebuild it with `npm run build -w @quiver/engine` (needs a C++17 compiler; CUDA is optional).",
    );
  }
  const require = createRequire(import.meta.url);
  binding = require(BINARY_PATH) as NativeBinding;
  return binding;
}
