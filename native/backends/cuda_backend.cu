// The CUDA backend: the device inference backend (device_backend.h) on a GPU (cuda_dev.cuh).
// Built only when nvcc is present (binding.gyp); chosen at run time when cudaGetDeviceCount
// finds a GPU. The same code and kernels run on the host as "cuda-emulated"
// (device_backend_host.cpp), which is how CI tests them without a GPU.
#include <memory>
#include <string>

#include "backend.h"
#include "cuda_dev.cuh"
#include "device_backend.h"

namespace quiver {

bool backend_cuda_compiled() { return true; }

std::unique_ptr<Backend> backend_cuda(std::string* why_not, const std::string& cublas) {
  std::unique_ptr<CudaDev> dev(CudaDev::open(why_not, cublas));
  if (!dev) return nullptr;
  return std::make_unique<DeviceBackend<CudaDev>>(std::move(dev));
}

}  // namespace quiver
