// cuBLAS, loaded at run time. The build needs no cuBLAS headers or library (the CUDA
// toolkit on the build machines ships neither); where a GPU machine has libcublas (a CUDA
// toolkit, or the nvidia-cublas wheel beside PyTorch), the CUDA device runs its products
// through cublasSgemm, and otherwise through its own kernels (device_ops.h), with the reason
// in the engine's device note.
//
// Which library, by the engine's or trainer's `cublas` option, or $QUIVER_CUBLAS when that is
// empty: "0" or "off", none; "emulate", none on CUDA, and the cuda-emulated device routes its
// products through the host stand-in for cuBLAS (host_dev.h); a path, that file; "auto" or
// unset, libcublas.so.13 / .12 / libcublas.so through the dynamic linker, then under
// $CUDA_HOME/lib64 and /usr/local/cuda/lib64.
#pragma once

#include <memory>
#include <string>

#include "device_ops.h"

namespace quiver {

// What a `cublas` setting asks for ("" defers to $QUIVER_CUBLAS); the path for kPath.
enum class CublasChoice { kAuto, kOff, kEmulate, kPath };
CublasChoice cublas_choice(const std::string& setting, std::string* path);

class Cublas {
 public:
  // The library's entry points, or nullptr with the reason (not found, not cuBLAS, disabled).
  // Needs no GPU.
  static std::shared_ptr<const Cublas> load(const std::string& setting, std::string* why_not);

  // "cuBLAS 13.1.1 (path)"
  const std::string& describe() const { return describe_; }

  // A handle whose work goes to `stream` (a cudaStream_t); nullptr with the reason.
  void* create(void* stream, std::string* why_not) const;
  void destroy(void* handle) const;
  // The column-major product of `g` on `handle`'s stream; 0 or the cuBLAS status.
  int sgemm(void* handle, const dev::BlasGemm& g) const;
  std::string status_text(int status) const;

 private:
  static std::shared_ptr<const Cublas> open_library(CublasChoice choice, const std::string& path, std::string* why_not);

  using CreateFn = int (*)(void**);
  using DestroyFn = int (*)(void*);
  using SetStreamFn = int (*)(void*, void*);
  using SetMathModeFn = int (*)(void*, int);
  using GetPropertyFn = int (*)(int, int*);
  using StatusStringFn = const char* (*)(int);
  using SgemmFn = int (*)(void*, int, int, int, int, int, const float*, const float*, int, const float*, int, const float*,
                          float*, int);

  void* lib_ = nullptr;  // never closed: a handle's library stays for the process
  CreateFn create_ = nullptr;
  DestroyFn destroy_ = nullptr;
  SetStreamFn set_stream_ = nullptr;
  SetMathModeFn set_math_mode_ = nullptr;
  StatusStringFn status_string_ = nullptr;
  SgemmFn sgemm_ = nullptr;
  std::string describe_;
};

}  // namespace quiver
