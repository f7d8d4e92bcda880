// Device choice: AUTO takes the GPU when one answers and otherwise falls back to the CPU
// with a note that says why; asking for CUDA without a GPU is a coded error.
import path from "node:path";

import { Engine } from "@quiver/engine";

import { CUDA_AVAILABLE } from "./backends.js";
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
  expect(engine.info.deviceNote ?? "").toBe("");
  await engine.close();
});
