// The backends the parity tests run on: both CPU paths and the CUDA backend's code on the
// host (cuda-emulated) always; CUDA when a GPU answers, otherwise its suites are reported as
// skipped and the reason is printed. The CUDA device's products run on cuBLAS where it loads
// and on Quiver's tiled kernels otherwise (native/backends/cublas.h); gemmVariants runs a
// suite under each.
import { Engine, type Device, type TrainDevice } from "@quiver/engine";

const cuda = Engine.cudaStatus();
export const CUDA_AVAILABLE = cuda.available;
if (!CUDA_AVAILABLE) console.log(`CUDA parity tests skipped: ${cuda.reason}`);

export const BACKENDS: Device[] = ["cpu-reference", "cpu", "cuda-emulated", "cuda"];

/** describe, or describe.skip for CUDA without a GPU (an engine or a training device). */
export function describeOn(device: Device | TrainDevice): typeof describe {
  return device === "cuda" && !CUDA_AVAILABLE ? describe.skip : describe;
}

const CUBLAS = cuda.cublas;
if (CUDA_AVAILABLE && !CUBLAS.loaded) console.log(`CUDA suites run without cuBLAS: ${CUBLAS.reason}`);

export interface GemmVariant {
  /** appended to the suite's name */
  label: string;
  /** the engine's and trainer's `cublas` option (undefined: the default) */
  cublas?: string;
  /** whether the products go through cuBLAS calls (on the GPU, or on the host stand-in) */
  cublasCalls: boolean;
  /** whether a sample's logits keep their bits in any batch (cuBLAS picks its kernels by shape) */
  batchInvariantBits: boolean;
}

/** The ways `device` runs its products, each to be tested: on cuda-emulated the tiled kernels
 * and the calls CUDA makes to cuBLAS, through the host stand-in for cuBLAS's contract
 * (cublas "emulate"); on CUDA cuBLAS (where it loads) and the tiled kernels. */
export function gemmVariants(device: Device | TrainDevice): GemmVariant[] {
  if (device === "cuda-emulated")
    return [
      { label: "", cublasCalls: false, batchInvariantBits: true },
      { label: " (cuBLAS calls on the host stand-in)", cublas: "emulate", cublasCalls: true, batchInvariantBits: true },
    ];
  if (device === "cuda" && CUDA_AVAILABLE && CUBLAS.loaded)
    return [
      { label: " (cuBLAS)", cublasCalls: true, batchInvariantBits: false },
      { label: " (tiled kernels, cublas off)", cublas: "off", cublasCalls: false, batchInvariantBits: true },
    ];
  return [{ label: "", cublasCalls: false, batchInvariantBits: true }];
}
