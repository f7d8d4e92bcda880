// The backends the parity tests run on: both CPU paths always; CUDA when a GPU answers,
// otherwise its suites are reported as skipped and the reason is printed.
import { Engine, type Device } from "@quiver/engine";

const cuda = Engine.cudaStatus();
export const CUDA_AVAILABLE = cuda.available;
if (!CUDA_AVAILABLE) console.log(`CUDA parity tests skipped: ${cuda.reason}`);

export const BACKENDS: Device[] = ["cpu-reference", "cpu", "cuda-emulated", "cuda"];

/** describe, or describe.skip for CUDA without a GPU. */
export function describeOn(device: Device): typeof describe {
  return device === "cuda" && !CUDA_AVAILABLE ? describe.skip : describe;
}
