// The base model: config.json read into ModelConfig, and the weights of a Hugging Face
// Llama-family folder (single or sharded safetensors, F32/F16/BF16) read into f32 host
// memory. Backends receive the weights as ModelWeights, pointers into their own memory.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "status.h"

namespace quiver {

struct ModelConfig {
  int vocab_size = 0;
  int dim = 0;            // hidden_size
  int hidden = 0;         // intermediate_size (SwiGLU width)
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;     // grouped-query attention: n_heads % n_kv_heads == 0
  int head_dim = 0;
  int max_position = 0;   // max_position_embeddings
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tied = false;      // lm_head shares embed_tokens
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
};

// Reads and validates DIR/config.json: FILE_MISSING, FILE_CORRUPT (bad JSON or numbers),
// UNSUPPORTED (not a Llama-family architecture, rope scaling, biases, activation).
Status model_config_read(const std::string& dir, ModelConfig* out);

// The seven projections a LoRA adapter may change, in a fixed order.
enum Module : int { kQ = 0, kK, kV, kO, kGate, kUp, kDown, kModuleCount };
const char* module_name(int m);               // "q_proj", ..., "down_proj"
const char* module_parent(int m);             // "self_attn" or "mlp"
int module_in(const ModelConfig& c, int m);   // input features of the projection
int module_out(const ModelConfig& c, int m);  // output features

struct LayerWeights {
  const float* attn_norm = nullptr;  // (dim)
  const float* wq = nullptr;         // (n_heads*head_dim, dim)
  const float* wk = nullptr;         // (kv_dim, dim)
  const float* wv = nullptr;         // (kv_dim, dim)
  const float* wo = nullptr;         // (dim, n_heads*head_dim)
  const float* ffn_norm = nullptr;   // (dim)
  const float* w_gate = nullptr;     // (hidden, dim)
  const float* w_up = nullptr;       // (hidden, dim)
  const float* w_down = nullptr;     // (dim, hidden)
  const float* proj(int m) const;    // the projection weight of module m
  const float*& proj(int m);         // ... and its slot
};

struct ModelWeights {
  const float* embed = nullptr;       // (vocab, dim)
  std::vector<LayerWeights> layers;   // (n_layers)
  const float* final_norm = nullptr;  // (dim)
  const float* lm_head = nullptr;     // (vocab, dim); == embed when tied
};

// The weights in host memory as f32, one vector per tensor (the ModelWeights view points
// into them).
struct HostModel {
  ModelConfig config;
  std::vector<std::vector<float>> tensors;
  ModelWeights weights;
  int64_t num_parameters = 0;
};

// Reads DIR (config.json + model.safetensors or model.safetensors.index.json and its
// shards). SHAPE_MISMATCH when a tensor is missing or disagrees with config.json,
// NON_FINITE for NaN/Inf, DTYPE for other dtypes, FILE_* for file problems.
Status host_model_load(const std::string& dir, HostModel* out);

}  // namespace quiver
