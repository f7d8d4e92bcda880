// Built when nvcc was not found: the engine has no CUDA backend and AUTO runs on the CPU.
#include "backend.h"

namespace quiver {

bool backend_cuda_compiled() { return false; }

std::unique_ptr<Backend> backend_cuda(std::string* why_not, const std::string&) {
  if (why_not) *why_not = "this build has no CUDA backend (nvcc was not found when it was built)";
  return nullptr;
}

}  // namespace quiver
