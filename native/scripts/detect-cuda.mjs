#!/usr/bin/env node
// Prints "1" when nvcc and the CUDA runtime library are present (binding.gyp then builds the
// CUDA backend), else "0" with the reason on stderr. QUIVER_CUDA=0 forces the CPU-only build.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

function nvccPath() {
  if (process.env.QUIVER_CUDA === "0") return undefined;
  const home = process.env.CUDA_HOME || process.env.CUDA_PATH || "/usr/local/cuda";
  for (const candidate of [path.join(home, "bin", "nvcc"), "nvcc"]) {
    try {
      execFileSync(candidate, ["--version"], { stdio: "ignore" });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

const nvcc = nvccPath();
const home = nvcc && nvcc !== "nvcc" ? path.dirname(path.dirname(nvcc)) : process.env.CUDA_HOME || "/usr/local/cuda";
if (process.argv[2] === "--home") {
  console.log(home);
} else if (process.argv[2] === "--nvcc") {
  console.log(nvcc ?? "nvcc");
} else if (!nvcc) {
  console.error(process.env.QUIVER_CUDA === "0" ? "QUIVER_CUDA=0: skipping GPU build" : "CUDA not found, skipping GPU build");
  console.log("0");
} else if (!existsSync(path.join(home, "lib64", "libcudart_static.a"))) {
  console.error(`CUDA runtime (libcudart_static.a) not found under ${home}/lib64, skipping GPU build`);
  console.log("0");
} else {
  console.error(`CUDA found (${nvcc}): building the GPU backend`);
  console.log("1");
}
