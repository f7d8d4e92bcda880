// config.json and safetensors loading for the base model (see model.h).
#include "model.h"

#include <sys/stat.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "json.h"
#include "safetensors.h"

namespace quiver {

namespace {

bool file_exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Reads an optional positive integer member; FILE_CORRUPT when present but not one.
Status read_int(const Json& cfg, const char* key, int* out, bool required) {
  const Json* v = cfg.get(key);
  if (!v || v->is_null()) {
    if (required) return Error(QUIVER_ERR_FILE_CORRUPT, "config.json: \"%s\" is missing", key);
    return Status::Ok();
  }
  if (!v->is_integer() || v->number <= 0 || v->number > 1e9)
    return Error(QUIVER_ERR_FILE_CORRUPT, "config.json: \"%s\" must be a positive integer", key);
  *out = (int)v->number;
  return Status::Ok();
}

Status read_float(const Json& cfg, const char* key, float* out) {
  const Json* v = cfg.get(key);
  if (!v || v->is_null()) return Status::Ok();
  if (!v->is_number() || !(v->number > 0))
    return Error(QUIVER_ERR_FILE_CORRUPT, "config.json: \"%s\" must be a positive number", key);
  *out = (float)v->number;
  return Status::Ok();
}

bool truthy(const Json* v) { return v && v->is_bool() && v->boolean; }

}  // namespace

const char* module_name(int m) {
  static const char* names[kModuleCount] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
  return names[m];
}
const char* module_parent(int m) { return m <= kO ? "self_attn" : "mlp"; }

int module_in(const ModelConfig& c, int m) {
  switch (m) {
    case kO: return c.q_dim();
    case kDown: return c.hidden;
    default: return c.dim;
  }
}
int module_out(const ModelConfig& c, int m) {
  switch (m) {
    case kQ: return c.q_dim();
    case kK: case kV: return c.kv_dim();
    case kGate: case kUp: return c.hidden;
    default: return c.dim;  // o, down
  }
}

const float* LayerWeights::proj(int m) const { return const_cast<LayerWeights*>(this)->proj(m); }
const float*& LayerWeights::proj(int m) {
  const float** p[kModuleCount] = {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down};
  return *p[m];
}

Status model_config_read(const std::string& dir, ModelConfig* out) {
  Json cfg;
  QUIVER_TRY(json_read_file(dir + "/config.json", &cfg));
  if (!cfg.is_object()) return Error(QUIVER_ERR_FILE_CORRUPT, "config.json is not a JSON object");

  // Architecture: Llama and Mistral (without a sliding window) share one computation.
  std::string arch;
  if (const Json* a = cfg.get("architectures"); a && a->is_array() && !a->array.empty() && a->array[0].is_string())
    arch = a->array[0].string;
  std::string model_type;
  if (const Json* t = cfg.get("model_type"); t && t->is_string()) model_type = t->string;
  const bool llama = arch == "LlamaForCausalLM" || arch == "MistralForCausalLM" ||
                     (arch.empty() && (model_type == "llama" || model_type == "mistral"));
  if (!llama)
    return Error(QUIVER_ERR_UNSUPPORTED, "config.json: architecture \"%s\" (model_type \"%s\") is not supported; the engine runs LlamaForCausalLM and MistralForCausalLM",
                 arch.c_str(), model_type.c_str());
  for (const char* key : {"hidden_act", "hidden_activation"}) {
    const Json* act = cfg.get(key);
    if (act && act->is_string() && act->string != "silu")
      return Error(QUIVER_ERR_UNSUPPORTED, "config.json: %s \"%s\" is not supported (SwiGLU needs silu)", key, act->string.c_str());
  }
  if (const Json* rs = cfg.get("rope_scaling"); rs && !rs->is_null())
    return Error(QUIVER_ERR_UNSUPPORTED, "config.json: rope_scaling is not supported");
  if (truthy(cfg.get("attention_bias")) || truthy(cfg.get("mlp_bias")))
    return Error(QUIVER_ERR_UNSUPPORTED, "config.json: attention_bias/mlp_bias are not supported");

  ModelConfig c;
  QUIVER_TRY(read_int(cfg, "vocab_size", &c.vocab_size, true));
  QUIVER_TRY(read_int(cfg, "hidden_size", &c.dim, true));
  QUIVER_TRY(read_int(cfg, "intermediate_size", &c.hidden, true));
  QUIVER_TRY(read_int(cfg, "num_hidden_layers", &c.n_layers, true));
  QUIVER_TRY(read_int(cfg, "num_attention_heads", &c.n_heads, true));
  c.n_kv_heads = c.n_heads;
  QUIVER_TRY(read_int(cfg, "num_key_value_heads", &c.n_kv_heads, false));
  c.max_position = 2048;
  QUIVER_TRY(read_int(cfg, "max_position_embeddings", &c.max_position, false));
  if (c.dim % c.n_heads != 0 && !cfg.get("head_dim"))
    return Error(QUIVER_ERR_FILE_CORRUPT, "config.json: hidden_size %d is not a multiple of num_attention_heads %d", c.dim, c.n_heads);
  c.head_dim = c.dim / c.n_heads;
  QUIVER_TRY(read_int(cfg, "head_dim", &c.head_dim, false));
  if (c.head_dim % 2 != 0) return Error(QUIVER_ERR_UNSUPPORTED, "config.json: head_dim %d is odd; rotary embeddings need pairs", c.head_dim);
  if (c.n_heads % c.n_kv_heads != 0)
    return Error(QUIVER_ERR_FILE_CORRUPT, "config.json: num_attention_heads %d is not a multiple of num_key_value_heads %d", c.n_heads, c.n_kv_heads);
  QUIVER_TRY(read_float(cfg, "rms_norm_eps", &c.rms_eps));
  QUIVER_TRY(read_float(cfg, "rope_theta", &c.rope_theta));
  if (const Json* sw = cfg.get("sliding_window"); sw && sw->is_integer() && sw->number < c.max_position)
    return Error(QUIVER_ERR_UNSUPPORTED, "config.json: sliding_window %d is not supported", (int)sw->number);
  c.tied = truthy(cfg.get("tie_word_embeddings"));
  if (const Json* b = cfg.get("bos_token_id"); b && b->is_integer()) c.bos_token_id = (int)b->number;
  if (const Json* e = cfg.get("eos_token_id")) {
    if (e->is_integer()) c.eos_token_ids.push_back((int)e->number);
    else if (e->is_array())
      for (const Json& x : e->array)
        if (x.is_integer()) c.eos_token_ids.push_back((int)x.number);
  }
  for (int id : c.eos_token_ids)
    if (id < 0 || id >= c.vocab_size) return Error(QUIVER_ERR_FILE_CORRUPT, "config.json: eos_token_id %d outside the vocabulary", id);
  if (c.bos_token_id >= c.vocab_size) return Error(QUIVER_ERR_FILE_CORRUPT, "config.json: bos_token_id outside the vocabulary");
  *out = c;
  return Status::Ok();
}

Status host_model_load(const std::string& dir, HostModel* out) {
  QUIVER_TRY(model_config_read(dir, &out->config));
  const ModelConfig& c = out->config;

  // Which files: a shard index, else one model.safetensors.
  std::map<std::string, std::string> weight_map;  // tensor name -> file
  std::vector<std::string> files;
  const std::string index_path = dir + "/model.safetensors.index.json";
  if (file_exists(index_path)) {
    Json index;
    QUIVER_TRY(json_read_file(index_path, &index));
    const Json* wm = index.get("weight_map");
    if (!wm || !wm->is_object()) return Error(QUIVER_ERR_FILE_CORRUPT, "%s has no weight_map object", index_path.c_str());
    std::set<std::string> seen;
    for (const auto& kv : wm->object) {
      if (!kv.second.is_string() || kv.second.string.find('/') != std::string::npos)
        return Error(QUIVER_ERR_FILE_CORRUPT, "%s: bad shard name for %s", index_path.c_str(), kv.first.c_str());
      if (!weight_map.emplace(kv.first, kv.second.string).second)
        return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s appears twice in the weight_map", index_path.c_str(), kv.first.c_str());
      if (seen.insert(kv.second.string).second) files.push_back(kv.second.string);
    }
  } else if (file_exists(dir + "/model.safetensors")) {
    files.push_back("model.safetensors");
  } else {
    return Error(QUIVER_ERR_FILE_MISSING, "%s has neither model.safetensors nor model.safetensors.index.json", dir.c_str());
  }
  std::map<std::string, std::unique_ptr<SafetensorsFile>> shards;
  for (const auto& f : files) QUIVER_TRY(SafetensorsFile::open(dir + "/" + f, &shards[f]));

  auto find = [&](const std::string& name, const SafetensorsFile** file) -> const TensorInfo* {
    if (!weight_map.empty()) {
      auto it = weight_map.find(name);
      if (it == weight_map.end()) return nullptr;
      *file = shards[it->second].get();
      return (*file)->find(name);
    }
    *file = shards.begin()->second.get();
    return (*file)->find(name);
  };

  // Reads one tensor of the expected shape into a new host vector.
  auto load = [&](const std::string& name, std::vector<int64_t> shape, const float** dst) -> Status {
    const SafetensorsFile* file = nullptr;
    const TensorInfo* t = find(name, &file);
    if (!t) return Error(QUIVER_ERR_SHAPE_MISMATCH, "tensor %s is missing (config.json: %d layers, hidden_size %d)", name.c_str(), c.n_layers, c.dim);
    if (t->shape != shape) {
      std::string got, want;
      for (auto d : t->shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      return Error(QUIVER_ERR_SHAPE_MISMATCH, "tensor %s is (%s) but config.json implies (%s)", name.c_str(), got.c_str(), want.c_str());
    }
    out->tensors.emplace_back((size_t)t->numel());
    std::vector<float>& v = out->tensors.back();
    QUIVER_TRY(file->read_f32(*t, v.data()));
    for (float x : v)
      if (!std::isfinite(x)) return Error(QUIVER_ERR_NON_FINITE, "tensor %s contains NaN or Inf", name.c_str());
    out->num_parameters += t->numel();
    *dst = v.data();
    return Status::Ok();
  };

  out->tensors.reserve(4 + 9 * (size_t)c.n_layers);  // pointers into it must stay valid
  ModelWeights& w = out->weights;
  const int64_t D = c.dim, H = c.hidden, Q = c.q_dim(), KV = c.kv_dim(), V = c.vocab_size;
  QUIVER_TRY(load("model.embed_tokens.weight", {V, D}, &w.embed));
  w.layers.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights& L = w.layers[l];
    QUIVER_TRY(load(p + "input_layernorm.weight", {D}, &L.attn_norm));
    QUIVER_TRY(load(p + "self_attn.q_proj.weight", {Q, D}, &L.wq));
    QUIVER_TRY(load(p + "self_attn.k_proj.weight", {KV, D}, &L.wk));
    QUIVER_TRY(load(p + "self_attn.v_proj.weight", {KV, D}, &L.wv));
    QUIVER_TRY(load(p + "self_attn.o_proj.weight", {D, Q}, &L.wo));
    QUIVER_TRY(load(p + "post_attention_layernorm.weight", {D}, &L.ffn_norm));
    QUIVER_TRY(load(p + "mlp.gate_proj.weight", {H, D}, &L.w_gate));
    QUIVER_TRY(load(p + "mlp.up_proj.weight", {H, D}, &L.w_up));
    QUIVER_TRY(load(p + "mlp.down_proj.weight", {D, H}, &L.w_down));
  }
  QUIVER_TRY(load("model.norm.weight", {D}, &w.final_norm));
  const SafetensorsFile* unused = nullptr;
  if (c.tied) {
    w.lm_head = w.embed;
  } else if (find("lm_head.weight", &unused)) {
    QUIVER_TRY(load("lm_head.weight", {V, D}, &w.lm_head));
  } else {
    return Error(QUIVER_ERR_SHAPE_MISMATCH, "lm_head.weight is missing and config.json does not set tie_word_embeddings");
  }
  return Status::Ok();
}

}  // namespace quiver
