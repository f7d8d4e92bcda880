// The backends the parity tests run on: both CPU paths and the CUDA backend's code on the
// host (cuda-emulated) always; CUDA when a GPU answers, otherwise its suites are reported as
// skipped and the reason is printed.
import { Engine, type Device, type TrainDevice } from "@quiver/engine";

const cuda = Engine.cudaStatus();
export const CUDA_AVAILABLE = cuda.available;
if (!CUDA_AVAILABLE) console.log(`CUDA parity tests skipped: ${cuda.reason}`);

export const BACKENDS: Device[] = ["cpu-reference", "cpu", "cuda-emulated", "cuda"];

/** describe, or describe.skip for CUDA without a GPU (an engine or a training device). */
export function describeOn(device: Device | TrainDevice): typeof describe {
  return device === "cuda" && !CUDA_AVAILABLE ? describe.skip : describe;
}
