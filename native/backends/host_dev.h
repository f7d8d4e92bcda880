// The "cuda-emulated" device: device memory is host memory and a kernel launch runs every
// index of an element-wise op (device_ops.h) as one loop iteration, the indices split among
// a thread pool. Each index writes only its own outputs, so the split changes no bit. This
// is how the device code (the device trainer, train/device_trainer.h, and the device
// inference backend, device_backend.h) is tested on machines without a GPU; CudaDev
// (cuda_dev.cuh) is the same interface on a GPU.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../engine/status.h"
#include "cublas.h"
#include "device_ops.h"
#include "thread_pool.h"

namespace quiver {

class HostDev {
 public:
  static constexpr const char* kName = "cuda-emulated";

  // threads <= 0: all hardware threads
  // cublas: "emulate" (or $QUIVER_CUBLAS=emulate when empty) routes the products through the
  // host stand-in for cuBLAS; anything else keeps the tiled kernels.
  HostDev(int threads, const std::string& cublas)
      : pool_(threads > 0 ? threads : (int)std::max(1u, std::thread::hardware_concurrency())),
        blas_(cublas_choice(cublas, nullptr) == CublasChoice::kEmulate) {}

  // Zeroed memory, nullptr when it fails (status() then reports OUT_OF_MEMORY).
  void* alloc(size_t bytes) {
    void* p = std::calloc(1, bytes ? bytes : 1);
    if (!p) failed_ = true;
    return p;
  }
  void release(void* p) { std::free(p); }
  void upload(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void download(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
  }
  void copy(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memmove(dst, src, bytes);
  }
  template <class Op>
  void run(int64_t n, const Op& op) {
    const int tasks = pool_.size() == 1 || n < 4096 ? 1 : pool_.size() * 4;
    if (tasks == 1) {
      for (int64_t i = 0; i < n; ++i) op(i);
      return;
    }
    const int64_t per = (n + tasks - 1) / tasks;
    pool_.run(tasks, [&](int t) {
      const int64_t end = std::min(n, (t + 1) * per);
      for (int64_t i = t * per; i < end; ++i) op(i);
    });
  }
  // y (rows, out) (+)= x (rows, in) @ W (out, in)^T on CUDA's tiles (device_ops.h TiledGemm),
  // or through the cuBLAS stand-in; any strided product likewise (device_ops.h gemm_on).
  void matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) {
    dev::matmul_on(*this, x, W, y, rows, in, out, accumulate);
  }
  void gemm(const dev::Gemm& g, int64_t M) { dev::gemm_on(*this, g, M); }
  // cuBLAS's sgemm contract on the host (column-major, beta 0 never reads c), so that the
  // calls the CUDA device makes to cuBLAS (cuda_dev.cuh) are checked without a GPU; the
  // columns of c split among the pool.
  void sgemm(const dev::BlasGemm& g) {
    auto column = [&](int j) {
      for (int i = 0; i < g.m; ++i) {
        float s = 0.0f;
        for (int k = 0; k < g.k; ++k) {
          const float a = g.ta ? g.a[k + (int64_t)i * g.lda] : g.a[i + (int64_t)k * g.lda];
          const float b = g.tb ? g.b[j + (int64_t)k * g.ldb] : g.b[k + (int64_t)j * g.ldb];
          s += a * b;
        }
        float* c = g.c + i + (int64_t)j * g.ldc;
        *c = g.beta == 0.0f ? g.alpha * s : g.alpha * s + g.beta * *c;
      }
    };
    if (pool_.size() == 1 || g.n == 1)
      for (int j = 0; j < g.n; ++j) column(j);
    else
      pool_.run(g.n, column);
  }
  // Whether products go through the cuBLAS stand-in.
  bool blas() const { return blas_; }
  std::string gemm_note() const {
    return blas_ ? "products on the host stand-in for cuBLAS (cublas emulate)" : "products on Quiver's tiled GEMM kernels";
  }
  // The blocks of a tiled GEMM split among the pool; within a block, each phase runs its
  // threads in turn, which is what the barriers between phases guarantee on a GPU.
  template <class G>
  void tiled(const G& g) {
    const int gx = g.grid_x(), blocks = gx * g.grid_y();
    auto block = [&](int b) {
      typename G::Tiles tiles;
      std::vector<typename G::Acc> acc(G::THREADS);
      for (auto& a : acc) g.zero(a);
      for (int k0 = 0; k0 < g.in; k0 += G::BK) {
        for (int t = 0; t < G::THREADS; ++t) g.load(tiles, b % gx, b / gx, t, k0);
        for (int t = 0; t < G::THREADS; ++t) g.multiply(tiles, t, k0, acc[t]);
      }
      for (int t = 0; t < G::THREADS; ++t) g.store(b % gx, b / gx, t, acc[t]);
    };
    if (pool_.size() == 1 || blocks == 1) {
      for (int b = 0; b < blocks; ++b) block(b);
    } else {
      pool_.run(blocks, block);
    }
  }
  Status measure_bandwidth(int64_t, int, double*) {
    return Error(QUIVER_ERR_UNSUPPORTED, "the cuda-emulated device has no bandwidth probe");
  }
  int threads() const { return pool_.size(); }
  // Waits for the work so far (nothing to wait for here) and reports its first error.
  Status status(const char* where) {
    if (!failed_) return Status::Ok();
    failed_ = false;
    return Error(QUIVER_ERR_OUT_OF_MEMORY, "out of host memory while %s", where);
  }

 private:
  ThreadPool pool_;
  bool blas_;
  bool failed_ = false;
};

}  // namespace quiver
