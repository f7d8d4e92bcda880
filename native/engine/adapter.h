// PEFT LoRA adapters: reading and validating a folder against the base model, and
// building the per-sample fused adapters of the FUSION strategies.
#pragma once

#include <string>
#include <vector>

#include "model.h"
#include "status.h"

namespace quiver {

// One (layer, projection) of an adapter: delta(x) = scale * B @ (A @ x).
struct LoraModule {
  int rank = 0;            // 0: the adapter leaves this projection alone
  float scale = 0;         // lora_alpha / r, or lora_alpha / sqrt(r) with rsLoRA
  std::vector<float> A;    // (rank, in)
  std::vector<float> B;    // (out, rank)
};

struct HostAdapter {
  std::string dir;
  std::string base_model;          // base_model_name_or_path, for messages
  float alpha = 0;
  bool rslora = false;
  int max_rank = 0;
  int num_modules = 0;             // modules with rank > 0
  int64_t bytes = 0;               // f32 bytes of all A and B
  std::vector<LoraModule> modules; // (n_layers * kModuleCount), index layer * 7 + module

  const LoraModule& at(int layer, int m) const { return modules[(size_t)layer * kModuleCount + m]; }
};

struct AdapterLimits {
  int max_rank = 64;
  int64_t max_bytes = 1ll << 30;
};

// Reads DIR/adapter_config.json and DIR/adapter_model.safetensors. Errors: FILE_MISSING,
// FILE_CORRUPT, UNSUPPORTED (non-LoRA, DoRA, biases, other target modules), BASE_MISMATCH
// (shapes or layers that do not fit the base model; the message says "maybe wrong base
// model?"), SHAPE_MISMATCH, DTYPE, NON_FINITE, RANK_LIMIT, SIZE_LIMIT.
Status host_adapter_load(const std::string& dir, const ModelConfig& base, const AdapterLimits& limits,
                         HostAdapter* out);

// The per-sample adapter of a FUSION strategy, with scales folded in (its modules have
// scale 1). parts[j] has weight weights[j].
//  average (the paper): A = sum_j w_j A_j, B = sum_j w_j s_j B_j; ranks differ -> each A_j,
//    B_j is zero-padded to the largest rank (an adapter without a module counts as zero);
//  concatenate (exact): A = [w_1 A_1; w_2 A_2; ...] (sum r_j rows), B = [s_1 B_1, s_2 B_2, ...],
//    so B A x = sum_j w_j s_j B_j A_j x, the mixture.
// The f32 bytes of A and B that host_adapter_fuse would build for these parts (its
// HostAdapter::bytes), without building it.
int64_t host_adapter_fused_bytes(const std::vector<const HostAdapter*>& parts, bool concatenate, const ModelConfig& base);

void host_adapter_fuse(const std::vector<const HostAdapter*>& parts, const std::vector<float>& weights,
                       bool concatenate, const ModelConfig& base, HostAdapter* out);

}  // namespace quiver
