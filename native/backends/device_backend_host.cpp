// The device inference backend (device_backend.h) with its kernels run on the host: the
// "cuda-emulated" device. Slow (plain loops, one output per index), for tests: it runs the
// CUDA backend's code and kernels, and the engine's device-memory paths (weights uploaded,
// caches copied, logits downloaded), on machines without a GPU.
#include "device_backend.h"
#include "host_dev.h"

namespace quiver {

std::unique_ptr<Backend> backend_cuda_emulated(int threads, const std::string& cublas) {
  return std::make_unique<DeviceBackend<HostDev>>(std::make_unique<HostDev>(threads, cublas));
}

}  // namespace quiver
