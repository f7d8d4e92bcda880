// The device trainer (device_trainer.h) on CUDA: each op of backends/device_ops.h as one
// thread per index (backends/cuda_dev.cuh). Built only when nvcc is present (binding.gyp);
// the same kernels run on the host as the "cuda-emulated" device (trainer.cpp), which is
// how CI tests them.
#include <memory>
#include <string>

#include "../backends/cuda_dev.cuh"
#include "device_trainer.h"

namespace quiver {

Status cuda_trainer_create(const TrainerOptions& o, const ModelConfig& c, const HostModel* host,
                           std::unique_ptr<Trainer>* out) {
  std::string why;
  std::unique_ptr<CudaDev> dev(CudaDev::open(&why, o.cublas));
  if (!dev) return Error(QUIVER_ERR_DEVICE, "device cuda requested but %s", why.c_str());
  auto t = std::make_unique<DeviceTrainer<CudaDev>>(o, c, std::move(dev));
  QUIVER_TRY(t->init(host));
  *out = std::move(t);
  return Status::Ok();
}

}  // namespace quiver
