// The backends the parity tests run on: both CPU paths always, CUDA when a GPU answers
// (otherwise the reason is printed and its tests are skipped).
import { Engine, type Device } from "@quiver/engine";

const cuda = Engine.cudaStatus();
export const CUDA_AVAILABLE = cuda.available;
export const CUDA_SKIP_REASON = cuda.available ? "" : cuda.reason;
export const CPU_BACKENDS: Device[] = ["cpu-reference", "cpu"];
export const ALL_BACKENDS: Device[] = cuda.available ? [...CPU_BACKENDS, "cuda"] : CPU_BACKENDS;
