// @quiver/engine: the native inference engine's public surface.
export { Engine } from "./engine.js";
export type {
  AdapterWeight,
  Device,
  EngineOptions,
  FinishReason,
  GenerateOptions,
  Generation,
  LoraKernel,
  ModelInfo,
  Sampling,
  StepItem,
  StepResult,
  Strategy,
  TestFaults,
  TestState,
} from "./engine.js";
export type { CudaStatus } from "./binding.js";
export { EngineError, ENGINE_ERROR_CODES, type EngineErrorCode } from "./errors.js";
export { TextTokenizer } from "./tokenizer.js";
export { convertLlama2c } from "./convert-llama2c.js";
export { readSafetensors, writeSafetensors, type Dtype, type TensorToWrite } from "./safetensors.js";
export { benchEngine, BENCH_MODES, PRESETS, TARGETS, type BenchProbes, type BenchReport, type BenchRow } from "./bench.js";
export {
  writeSyntheticAdapter,
  writeSyntheticModel,
  projectionShape,
  shardFiles,
  loraTensorName,
  PROJECTIONS,
  type Projection,
  type SyntheticAdapterSpec,
  type SyntheticModelSpec,
} from "./synthetic.js";
export {
  Trainer,
  MAX_TRAIN_RANK,
  TRAIN_DEVICES,
  type TrainBatch,
  type TrainDevice,
  type TrainMode,
  type TrainStats,
  type TrainerOptions,
  type TensorInfo,
  type TensorPart,
} from "./trainer.js";
export { writeCharTokenizer, charVocabulary, CHAR_SPECIALS } from "./char-tokenizer.js";
