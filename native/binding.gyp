{
  "variables": {
    "quiver_cuda%": "<!(node scripts/detect-cuda.mjs)",
    "cuda_home%": "<!(node scripts/detect-cuda.mjs --home)",
    "nvcc%": "<!(node scripts/detect-cuda.mjs --nvcc)"
  },
  "targets": [
    {
      "target_name": "quiver",
      "sources": [
        "binding/addon.cpp",
        "engine/adapter.cpp",
        "engine/capi.cpp",
        "engine/engine.cpp",
        "engine/forward.cpp",
        "engine/json.cpp",
        "engine/model.cpp",
        "engine/safetensors.cpp",
        "engine/sampler.cpp",
        "engine/step.cpp",
        "backends/cpu_reference.cpp",
        "backends/cpu_fast.cpp",
        "backends/cpu_kernels.cpp",
        "backends/cublas.cpp",
        "backends/lanes.cpp",
        "backends/thread_pool.cpp",
        "backends/device_backend_host.cpp",
        "train/trainer.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-O3", "-Wall", "-Wno-unused-parameter", "-pthread"],
      "ldflags": ["-pthread"],
      "conditions": [
        ["quiver_cuda==1", {
          "sources": ["backends/cuda_backend.cu", "train/cuda_trainer.cu"],
          "defines": ["QUIVER_WITH_CUDA"],
          "include_dirs": ["<(cuda_home)/include"],
          "libraries": ["-L<(cuda_home)/lib64", "-lcudart_static", "-ldl", "-lrt"],
          "rules": [
            {
              "rule_name": "nvcc",
              "extension": "cu",
              "inputs": ["<(RULE_INPUT_PATH)", "backends/backend.h", "engine/model.h", "engine/status.h", "include/quiver.h",
                         "backends/cuda_dev.cuh", "backends/cublas.h", "backends/device_backend.h", "backends/device_ops.h", "backends/lanes.h",
                         "train/trainer.h", "train/device_trainer.h"],
              "outputs": ["<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o"],
              "action": [
                "<(nvcc)", "-c", "<(RULE_INPUT_PATH)", "-o", "<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o",
                "-std=c++17", "-O3", "-Xcompiler", "-fPIC",
                "-gencode", "arch=compute_80,code=sm_80",
                "-gencode", "arch=compute_90,code=[sm_90,compute_90]"
              ],
              "message": "nvcc <(RULE_INPUT_PATH)",
              "process_outputs_as_sources": 1
            }
          ]
        }, {
          "sources": ["backends/cuda_absent.cpp", "train/cuda_trainer_absent.cpp"]
        }]
      ]
    }
  ]
}
