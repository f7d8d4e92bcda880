// Device choice: AUTO takes the GPU when one answers and otherwise falls back to the CPU
// with a note that says why; asking for CUDA without a GPU is a coded error.
import path from "node:path";

import { Engine } from "@quiver/engine";

import { CUDA_AVAILABLE, describeOn } from "./backends.js";
import { tempDir } from "./cli.js";
import { SMALL, writeRandomModel } from "./fixtures.js";

const dir = path.join(tempDir("device"), "model");
writeRandomModel(dir, SMALL);

test("auto picks CUDA when a GPU answers, else the CPU with the reason", async () => {
  const status = Engine.cudaStatus();
  const engine = await Engine.open(dir);
  if (CUDA_AVAILABLE) {
    expect(engine.info.device).toBe("cuda");
  } else {
    expect(engine.info.device).toBe("cpu");
    expect(engine.info.deviceNote).toContain(status.reason);
    expect(status.reason).toMatch(status.compiled ? /cudaGetDeviceCount|no GPU/ : /no CUDA backend/);
  }
  await engine.close();
});

test("device cuda without a GPU fails with DEVICE", async () => {
  if (CUDA_AVAILABLE) {
    const engine = await Engine.open(dir, { device: "cuda" });
    expect(engine.info.device).toBe("cuda");
    await engine.close();
  } else {
    await expect(Engine.open(dir, { device: "cuda" })).rejects.toMatchObject({ code: "DEVICE" });
  }
});

test("cuda-emulated runs the CUDA backend's code and kernels on the host, with or without a GPU", async () => {
  const engine = await Engine.open(dir, { device: "cuda-emulated" });
  expect(engine.info.device).toBe("cuda-emulated");
  expect(engine.info.kernels).toBe("cuda-emulated");
  expect(engine.info.deviceNote).toBe("products on Quiver's tiled GEMM kernels");
  await engine.close();
});

test("cuBLAS loads where the machine has it, else the reason; a bad path or a library that is not cuBLAS is refused", () => {
  const s = Engine.cudaStatus().cublas;
  if (s.loaded) expect(s.version).toMatch(/^cuBLAS \d+\.\d+\.\d+ \(.*libcublas/);
  else expect(s.reason).toMatch(/libcublas not found|could not be loaded|turned off|emulated/);
  expect(Engine.cudaStatus("/nonexistent/libcublas.so.13").cublas).toEqual({
    loaded: false,
    reason: expect.stringMatching(/^cuBLAS at \/nonexistent\/libcublas\.so\.13 could not be loaded: .*No such file/),
  });
  expect(Engine.cudaStatus("libm.so.6").cublas.reason).toMatch(/libm\.so\.6 is not cuBLAS/);
  expect(Engine.cudaStatus("off").cublas.reason).toMatch(/turned off/);
});

describeOn("cuda")("cuBLAS on the GPU", () => {
  test("a cuBLAS that does not load leaves the products to the tiled kernels, and the note says why", async () => {
    const engine = await Engine.open(dir, { device: "cuda", cublas: "/nonexistent/libcublas.so.13" });
    expect(engine.info.kernels).toBe("cuda");
    expect(engine.info.deviceNote).toMatch(/tiled GEMM kernels: cuBLAS at \/nonexistent/);
    await engine.close();
  });
});
