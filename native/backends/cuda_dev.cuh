// The device interface of host_dev.h on a GPU: device memory from cudaMalloc, each
// element-wise op (device_ops.h) as one thread per index on one stream, and the tiled GEMM
// (device_ops.h TiledGemm) in shared memory for the projections. Included by the CUDA sources only (cuda_backend.cu,
// train/cuda_trainer.cu).
//
// cuBLAS is not used: the CUDA toolkit on the build machines ships no cuBLAS headers or
// library.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "../engine/status.h"
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
  ~CudaDev() { cudaStreamDestroy(stream_); }

  // Opens device 0 with a stream of its own; nullptr with the reason when no GPU answers.
  static CudaDev* open(std::string* why_not) {
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
    return new CudaDev(stream);
  }

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
    dev::tiled_matmul(*this, x, W, y, rows, in, out, accumulate);
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
};

}  // namespace
}  // namespace quiver
