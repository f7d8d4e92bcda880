{
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
        "backends/thread_pool.cpp",
        "backends/cuda_absent.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-O3", "-Wall", "-Wno-unused-parameter", "-pthread"],
      "ldflags": ["-pthread"]
    }
  ]
}
