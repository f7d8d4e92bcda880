// The device interface of host_dev.h on a GPU: device memory from cudaMalloc, each
// element-wise op (device_ops.h) as one thread per index on one stream, and the products
// through cuBLAS (cublas.h: loaded at run time where the machine has it) or else through
// the tiled GEMM (device_ops.h TiledGemm) in shared memory and the element-wise product
// kernel. Included by the CUDA sources only (cuda_backend.cu, train/cuda_trainer.cu).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>

#include "../engine/status.h"
#include "cublas.h"
#include "device_ops.h"

namespace quiver {

// Internal to each CUDA source that includes this header (the kernels and the device
// class are defined once per source, so no inline function refers to another source's
// kernels).
namespace {

template <class Op>
__global__ void for_each_index(int64_t n, Op op) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) op(i);
}

// One block of a tiled GEMM (device_ops.h TiledGemm): shared tiles, a barrier after each
// load and each multiply.
template <class G>
__global__ void tiled_kernel(G g) {
  __shared__ typename G::Tiles tiles;
  typename G::Acc acc;
  g.zero(acc);
  for (int k0 = 0; k0 < g.in; k0 += G::BK) {
    g.load(tiles, blockIdx.x, blockIdx.y, threadIdx.x, k0);
    __syncthreads();
    g.multiply(tiles, threadIdx.x, k0, acc);
    __syncthreads();
  }
  g.store(blockIdx.x, blockIdx.y, threadIdx.x, acc);
}

__global__ void read_kernel(const float4* p, size_t n, float* sink) {
  float s = 0.0f;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
    const float4 v = p[i];
    s += v.x + v.y + v.z + v.w;
  }
  if (s == 12345.678f) *sink = s;  // keeps the loads
}

class CudaDev {
 public:
  static constexpr const char* kName = "cuda";

  explicit CudaDev(cudaStream_t stream) : stream_(stream) {}
  ~CudaDev() {
    if (blas_) blas_->destroy(handle_);
    cudaStreamDestroy(stream_);
  }

  // Opens device 0 with a stream of its own; nullptr with the reason when no GPU answers.
  // cublas: backends/cublas.h.
  static CudaDev* open(std::string* why_not, const std::string& cublas) {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      if (why_not) *why_not = std::string("no GPU: cudaGetDeviceCount returned ") + std::to_string((int)e) + " (" + cudaGetErrorString(e) + ")";
      cudaGetLastError();  // clear the sticky error
      return nullptr;
    }
    if (n == 0) {
      if (why_not) *why_not = "no GPU: cudaGetDeviceCount found 0 devices";
      return nullptr;
    }
    cudaStream_t stream;
    if (cudaSetDevice(0) != cudaSuccess || cudaStreamCreate(&stream) != cudaSuccess) {
      if (why_not) *why_not = std::string("CUDA device 0 could not be used: ") + cudaGetErrorString(cudaGetLastError());
      return nullptr;
    }
    CudaDev* d = new CudaDev(stream);
    d->blas_ = Cublas::load(cublas, &d->blas_note_);
    if (d->blas_) {
      d->handle_ = d->blas_->create(stream, &d->blas_note_);
      if (!d->handle_) d->blas_.reset();
    }
    return d;
  }

  // What runs the products: "cuBLAS 13.1.1 (path)", or why the tiled kernels do.
  std::string gemm_note() const {
    return blas_ ? "products on " + blas_->describe() : "products on Quiver's tiled GEMM kernels: " + blas_note_;
  }
  bool blas() const { return blas_ != nullptr; }

  void* alloc(size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
      note(cudaGetLastError(), "cudaMalloc");
      return nullptr;
    }
    note(cudaMemsetAsync(p, 0, bytes ? bytes : 1, stream_), "cudaMemset");
    return p;
  }
  void release(void* p) { cudaFree(p); }
  void upload(void* dst, const void* src, size_t bytes) {
    if (bytes) note(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "a copy to the GPU");
    // the host buffer may go away when the caller returns
    note(cudaStreamSynchronize(stream_), "a copy to the GPU");
  }
  void download(void* dst, const void* src, size_t bytes) {
    if (bytes) note(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "a copy from the GPU");
  }
  void copy(void* dst, const void* src, size_t bytes) {
    if (bytes) note(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "a copy on the GPU");
  }
  template <class Op>
  void run(int64_t n, const Op& op) {
    if (n <= 0) return;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    for_each_index<<<(unsigned)blocks, threads, 0, stream_>>>(n, op);
    note(cudaGetLastError(), "a kernel launch");
  }
  void matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) {
    dev::matmul_on(*this, x, W, y, rows, in, out, accumulate);
  }
  void gemm(const dev::Gemm& g, int64_t M) { dev::gemm_on(*this, g, M); }
  void sgemm(const dev::BlasGemm& b) {
    const int st = blas_->sgemm(handle_, b);
    if (st != 0 && blas_error_.empty()) blas_error_ = "cublasSgemm: " + blas_->status_text(st);
  }
  template <class G>
  void tiled(const G& g) {
    tiled_kernel<<<dim3(g.grid_x(), g.grid_y()), G::THREADS, 0, stream_>>>(g);
    note(cudaGetLastError(), "a GEMM launch");
  }
  Status measure_bandwidth(int64_t bytes, int repeats, double* gbps) {
    float* buf = static_cast<float*>(alloc((size_t)bytes));
    float* sink = static_cast<float*>(alloc(sizeof(float)));
    QUIVER_TRY(status("allocating the bandwidth probe"));
    const size_t n4 = (size_t)bytes / 16;
    read_kernel<<<1024, 256, 0, stream_>>>(reinterpret_cast<const float4*>(buf), n4, sink);  // warm-up
    double best = 0;
    for (int k = 0; k < repeats && first_ == cudaSuccess; ++k) {
      note(cudaStreamSynchronize(stream_), "the bandwidth probe");
      auto t0 = std::chrono::steady_clock::now();
      read_kernel<<<1024, 256, 0, stream_>>>(reinterpret_cast<const float4*>(buf), n4, sink);
      note(cudaStreamSynchronize(stream_), "the bandwidth probe");
      best = std::max(best, (double)n4 * 16 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    release(buf);
    release(sink);
    QUIVER_TRY(status("the bandwidth probe"));
    *gbps = best / 1e9;
    return Status::Ok();
  }
  int threads() const { return 1; }
  // Waits for the work so far and reports the first error since the last call.
  Status status(const char* where) {
    note(cudaStreamSynchronize(stream_), "a kernel");
    if (!blas_error_.empty() && first_ == cudaSuccess) {
      const std::string e = blas_error_;
      blas_error_.clear();
      return Error(QUIVER_ERR_DEVICE, "cuBLAS error in %s: %s", where, e.c_str());
    }
    blas_error_.clear();
    if (first_ == cudaSuccess) return Status::Ok();
    const cudaError_t e = first_;
    first_ = cudaSuccess;
    return Error(e == cudaErrorMemoryAllocation ? QUIVER_ERR_OUT_OF_MEMORY : QUIVER_ERR_DEVICE, "CUDA error in %s (%s): %s",
                 where, what_.c_str(), cudaGetErrorString(e));
  }

 private:
  void note(cudaError_t e, const char* what) {
    if (e != cudaSuccess && first_ == cudaSuccess) {
      first_ = e;
      what_ = what;
    }
  }
  cudaStream_t stream_;
  cudaError_t first_ = cudaSuccess;
  std::string what_;
  std::shared_ptr<const Cublas> blas_;
  void* handle_ = nullptr;
  std::string blas_note_;   // why there is no cuBLAS
  std::string blas_error_;  // the first failed cuBLAS call since status()
};

}  // namespace
}  // namespace quiver
