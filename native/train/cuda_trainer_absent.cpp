// Built when nvcc was not found: no CUDA trainer (the CPU trainer and the host-run
// "cuda-emulated" device trainer remain).
#include "trainer.h"

namespace quiver {

Status cuda_trainer_create(const TrainerOptions&, const ModelConfig&, const HostModel*, std::unique_ptr<Trainer>*) {
  return Error(QUIVER_ERR_DEVICE, "device cuda requested but this build has no CUDA trainer (nvcc was not found when it was built)");
}

}  // namespace quiver
