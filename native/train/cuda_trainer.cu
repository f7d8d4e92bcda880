// The device trainer (device_trainer.h) on CUDA: each op of device_ops.h as one thread per
// index on one stream. Built only when nvcc is present (binding.gyp); the same kernels run
// on the host as the "cuda-emulated" device (trainer.cpp), which is how CI tests them.
#include <cuda_runtime.h>

#include <string>

#include "device_trainer.h"

namespace quiver {

namespace {

template <class Op>
__global__ void for_each_index(int64_t n, Op op) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) op(i);
}

class CudaDev {
 public:
  explicit CudaDev(cudaStream_t stream) : stream_(stream) {}
  ~CudaDev() { cudaStreamDestroy(stream_); }

  void* alloc(size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      note(cudaGetLastError(), "cudaMalloc");
      return nullptr;
    }
    note(cudaMemsetAsync(p, 0, bytes, stream_), "cudaMemset");
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
  template <class Op>
  void run(int64_t n, const Op& op) {
    if (n <= 0) return;
    const int threads = 256;
    const int64_t blocks = (n + threads - 1) / threads;
    for_each_index<<<(unsigned)blocks, threads, 0, stream_>>>(n, op);
    note(cudaGetLastError(), "a kernel launch");
  }
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

Status cuda_trainer_create(const TrainerOptions& o, const ModelConfig& c, const HostModel* host,
                           std::unique_ptr<Trainer>* out) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error
    return Error(QUIVER_ERR_DEVICE, "device cuda requested but no GPU: cudaGetDeviceCount returned %d (%s)", (int)e,
                 cudaGetErrorString(e));
  }
  if (n == 0) return Error(QUIVER_ERR_DEVICE, "device cuda requested but no GPU: cudaGetDeviceCount found 0 devices");
  cudaStream_t stream;
  if (cudaSetDevice(0) != cudaSuccess || cudaStreamCreate(&stream) != cudaSuccess)
    return Error(QUIVER_ERR_DEVICE, "CUDA device 0 could not be used: %s", cudaGetErrorString(cudaGetLastError()));
  auto t = std::make_unique<DeviceTrainer<CudaDev>>(o, c, std::make_unique<CudaDev>(stream));
  QUIVER_TRY(t->init(host));
  *out = std::move(t);
  return Status::Ok();
}

}  // namespace quiver
