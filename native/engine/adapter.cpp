// PEFT adapter loading, validation and fusion (see adapter.h).
#include "adapter.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <regex>

#include "json.h"
#include "safetensors.h"

namespace quiver {

namespace {

constexpr const char* kHint = " (maybe wrong base model?)";

// Parses "base_model.model.model.layers.<i>.<parent>.<module>.lora_<A|B>[.<name>].weight".
// Returns false when the name does not have this form.
bool parse_lora_name(const std::string& name, int* layer, std::string* parent, std::string* module, char* which) {
  static const std::string prefix = "base_model.model.model.layers.";
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t p = prefix.size();
  char* end = nullptr;
  long l = std::strtol(name.c_str() + p, &end, 10);
  if (end == name.c_str() + p || *end != '.' || l < 0 || l > 100000) return false;
  *layer = (int)l;
  std::string rest(end + 1);
  size_t d1 = rest.find('.');
  if (d1 == std::string::npos) return false;
  *parent = rest.substr(0, d1);
  size_t d2 = rest.find('.', d1 + 1);
  if (d2 == std::string::npos) return false;
  *module = rest.substr(d1 + 1, d2 - d1 - 1);
  std::string tail = rest.substr(d2 + 1);
  if (tail == "lora_A.weight") *which = 'A';
  else if (tail == "lora_B.weight") *which = 'B';
  else if (tail.rfind("lora_A.", 0) == 0 && tail.size() > 14 && tail.compare(tail.size() - 7, 7, ".weight") == 0) *which = 'A';
  else if (tail.rfind("lora_B.", 0) == 0 && tail.size() > 14 && tail.compare(tail.size() - 7, 7, ".weight") == 0) *which = 'B';
  else return false;
  return true;
}

int module_index(const std::string& name) {
  for (int m = 0; m < kModuleCount; ++m)
    if (name == module_name(m)) return m;
  return -1;
}

// rank_pattern / alpha_pattern, as PEFT reads them (peft.utils.other.get_pattern_key, from
// LoraModel._create_and_replace): a module takes the value of the first key, in the config's
// order, for which re.match(rf"(.*\.)?({key})$", name) matches its name in the base model,
// "model.layers.<i>.<parent>.<module>"; with no such key, r (or lora_alpha). Rank and alpha
// are looked up separately. The keys are compiled once as ECMAScript regular expressions (the
// same as Python's re for the patterns PEFT's docs show: classes, alternation, anchors,
// quantifiers) and matched whole (regex_match, as the "$" after the key does); libstdc++'s
// polynomial mode keeps a hostile key from backtracking without end.
class PatternTable {
 public:
  // `what` is "rank_pattern" or "alpha_pattern"; each value must be a positive integer (ranks)
  // or a finite number (alphas).
  Status compile(const Json* pattern, const char* what, bool ranks) {
    if (!pattern || pattern->is_null()) return Status::Ok();
    if (!pattern->is_object()) return Error(QUIVER_ERR_FILE_CORRUPT, "adapter_config.json: %s must be an object", what);
    for (const auto& kv : pattern->object) {
      const Json& v = kv.second;
      if (ranks ? !(v.is_integer() && v.number > 0) : !(v.is_number() && std::isfinite(v.number)))
        return Error(QUIVER_ERR_FILE_CORRUPT, "adapter_config.json: %s[\"%s\"] must be %s", what, kv.first.c_str(),
                     ranks ? "a positive integer" : "a number");
      if (kv.first.size() > kMaxKey)
        return Error(QUIVER_ERR_UNSUPPORTED, "adapter_config.json: a %s key of %zu characters (at most %zu)", what, kv.first.size(),
                     kMaxKey);
      try {
        keys_.emplace_back(std::regex("(.*\\.)?(" + kv.first + ")", std::regex::ECMAScript | kPolynomial), v.number);
      } catch (const std::regex_error& e) {
        return Error(QUIVER_ERR_UNSUPPORTED,
                     "adapter_config.json: %s key \"%s\" is not a regular expression the engine reads (ECMAScript syntax, "
                     "which agrees with Python's re for the usual patterns): %s",
                     what, kv.first.c_str(), e.what());
      }
    }
    return Status::Ok();
  }
  // The value of the first key that matches (layer, module) into *out; false when none does.
  bool lookup(int layer, int m, double* out) const {
    const std::string name = "model.layers." + std::to_string(layer) + "." + module_parent(m) + "." + module_name(m);
    for (const auto& k : keys_)
      if (std::regex_match(name, k.first)) {
        *out = k.second;
        return true;
      }
    return false;
  }

 private:
  static constexpr size_t kMaxKey = 1024;
#ifdef __GLIBCXX__
  static constexpr std::regex::flag_type kPolynomial = std::regex_constants::__polynomial;
#else
  static constexpr std::regex::flag_type kPolynomial = std::regex::flag_type{};
#endif
  std::vector<std::pair<std::regex, double>> keys_;
};

}  // namespace

Status host_adapter_load(const std::string& dir, const ModelConfig& base, const AdapterLimits& limits, HostAdapter* out) {
  Json cfg;
  QUIVER_TRY(json_read_file(dir + "/adapter_config.json", &cfg));
  if (!cfg.is_object()) return Error(QUIVER_ERR_FILE_CORRUPT, "adapter_config.json is not a JSON object");
  const Json* peft_type = cfg.get("peft_type");
  if (peft_type && (!peft_type->is_string() || peft_type->string != "LORA"))
    return Error(QUIVER_ERR_UNSUPPORTED, "adapter_config.json: peft_type \"%s\" is not supported; the engine serves LORA adapters",
                 peft_type->is_string() ? peft_type->string.c_str() : "?");
  const Json* r = cfg.get("r");
  if (!r || !r->is_integer() || r->number <= 0)
    return Error(QUIVER_ERR_FILE_CORRUPT, "adapter_config.json: \"r\" must be a positive integer");
  const int rank = (int)r->number;
  float alpha = 8.0f;  // PEFT's default lora_alpha
  if (const Json* a = cfg.get("lora_alpha"); a && !a->is_null()) {
    if (!a->is_number() || !std::isfinite(a->number)) return Error(QUIVER_ERR_FILE_CORRUPT, "adapter_config.json: bad lora_alpha");
    alpha = (float)a->number;
  }
  const bool rslora = cfg.get("use_rslora") && cfg.get("use_rslora")->is_bool() && cfg.get("use_rslora")->boolean;
  if (const Json* d = cfg.get("use_dora"); d && d->is_bool() && d->boolean)
    return Error(QUIVER_ERR_UNSUPPORTED, "adapter_config.json: DoRA adapters (use_dora) are not supported");
  if (const Json* b = cfg.get("bias"); b && b->is_string() && b->string != "none")
    return Error(QUIVER_ERR_UNSUPPORTED, "adapter_config.json: bias \"%s\" is not supported (only \"none\")", b->string.c_str());
  if (const Json* f = cfg.get("fan_in_fan_out"); f && f->is_bool() && f->boolean)
    return Error(QUIVER_ERR_UNSUPPORTED, "adapter_config.json: fan_in_fan_out is not supported for Llama projections");
  if (const Json* s = cfg.get("modules_to_save"); s && s->is_array() && !s->array.empty())
    return Error(QUIVER_ERR_UNSUPPORTED, "adapter_config.json: modules_to_save (fully trained modules) is not supported");
  if (const Json* t = cfg.get("target_modules"); t && t->is_array()) {
    for (const Json& m : t->array) {
      if (!m.is_string()) return Error(QUIVER_ERR_FILE_CORRUPT, "adapter_config.json: target_modules must hold strings");
      const std::string& s = m.string;
      size_t dot = s.rfind('.');
      if (module_index(dot == std::string::npos ? s : s.substr(dot + 1)) < 0)
        return Error(QUIVER_ERR_UNSUPPORTED, "adapter_config.json: target module \"%s\" is not supported; the engine adapts q/k/v/o/gate/up/down_proj",
                     s.c_str());
    }
  }
  PatternTable rank_pattern, alpha_pattern;
  QUIVER_TRY(rank_pattern.compile(cfg.get("rank_pattern"), "rank_pattern", true));
  QUIVER_TRY(alpha_pattern.compile(cfg.get("alpha_pattern"), "alpha_pattern", false));
  HostAdapter a;
  a.dir = dir;
  a.alpha = alpha;
  a.rslora = rslora;
  if (const Json* b = cfg.get("base_model_name_or_path"); b && b->is_string()) a.base_model = b->string;
  if (rank > limits.max_rank)
    return Error(QUIVER_ERR_RANK_LIMIT, "adapter rank %d is above the engine's limit %d", rank, limits.max_rank);

  std::unique_ptr<SafetensorsFile> file;
  QUIVER_TRY(SafetensorsFile::open(dir + "/adapter_model.safetensors", &file));

  // First pass: names and shapes, before reading any data.
  struct Pair { const TensorInfo* A = nullptr; const TensorInfo* B = nullptr; };
  std::vector<Pair> pairs((size_t)base.n_layers * kModuleCount);
  const std::string base_note = a.base_model.empty() ? "" : " (adapter made for " + a.base_model + ")";
  for (const TensorInfo& t : file->tensors()) {
    int layer;
    std::string parent, module;
    char which;
    if (!parse_lora_name(t.name, &layer, &parent, &module, &which))
      return Error(QUIVER_ERR_UNSUPPORTED, "tensor %s is not a LoRA A/B matrix of a decoder projection", t.name.c_str());
    int m = module_index(module);
    if (m < 0 || parent != module_parent(m))
      return Error(QUIVER_ERR_UNSUPPORTED, "tensor %s: module %s.%s is not one the engine adapts", t.name.c_str(), parent.c_str(), module.c_str());
    if (layer >= base.n_layers)
      return Error(QUIVER_ERR_BASE_MISMATCH, "tensor %s names layer %d but the base model has %d layers%s%s", t.name.c_str(), layer,
                   base.n_layers, base_note.c_str(), kHint);
    Pair& p = pairs[(size_t)layer * kModuleCount + m];
    (which == 'A' ? p.A : p.B) = &t;
  }
  int64_t bytes = 0;
  for (int l = 0; l < base.n_layers; ++l) {
    for (int m = 0; m < kModuleCount; ++m) {
      const Pair& p = pairs[(size_t)l * kModuleCount + m];
      if (!p.A && !p.B) continue;
      const char* what = module_name(m);
      if (!p.A || !p.B)
        return Error(QUIVER_ERR_FILE_CORRUPT, "layer %d %s has lora_%s but not lora_%s", l, what, p.A ? "A" : "B", p.A ? "B" : "A");
      const int in = module_in(base, m), outf = module_out(base, m);
      if (p.A->shape.size() != 2 || p.B->shape.size() != 2)
        return Error(QUIVER_ERR_SHAPE_MISMATCH, "layer %d %s: LoRA matrices must be 2-D", l, what);
      const int64_t ra = p.A->shape[0], rb = p.B->shape[1];
      if (p.A->shape[1] != in || p.B->shape[0] != outf)
        return Error(QUIVER_ERR_BASE_MISMATCH, "layer %d %s: lora_A is (%lld, %lld) and lora_B (%lld, %lld) but the base projection maps %d -> %d%s%s",
                     l, what, (long long)ra, (long long)p.A->shape[1], (long long)p.B->shape[0], (long long)rb, in, outf,
                     base_note.c_str(), kHint);
      if (ra != rb) return Error(QUIVER_ERR_SHAPE_MISMATCH, "layer %d %s: lora_A has rank %lld but lora_B %lld", l, what, (long long)ra, (long long)rb);
      double want = rank;
      const bool patterned = rank_pattern.lookup(l, m, &want);
      if ((double)ra != want)
        return Error(QUIVER_ERR_SHAPE_MISMATCH, "layer %d %s: rank %lld but adapter_config.json says %.0f (%s)", l, what, (long long)ra,
                     want, patterned ? "rank_pattern" : "r");
      if (ra > limits.max_rank)
        return Error(QUIVER_ERR_RANK_LIMIT, "layer %d %s: rank %lld is above the engine's limit %d", l, what, (long long)ra, limits.max_rank);
      bytes += 4 * ra * (int64_t)(in + outf);
    }
  }
  if (bytes == 0) return Error(QUIVER_ERR_FILE_CORRUPT, "adapter_model.safetensors holds no LoRA matrices");
  if (bytes > limits.max_bytes)
    return Error(QUIVER_ERR_SIZE_LIMIT, "adapter needs %lld bytes as f32, above the engine's limit %lld", (long long)bytes, (long long)limits.max_bytes);

  // Second pass: the data.
  a.modules.resize(pairs.size());
  for (int l = 0; l < base.n_layers; ++l) {
    for (int m = 0; m < kModuleCount; ++m) {
      const Pair& p = pairs[(size_t)l * kModuleCount + m];
      if (!p.A) continue;
      LoraModule& mod = a.modules[(size_t)l * kModuleCount + m];
      mod.rank = (int)p.A->shape[0];
      double al = alpha;
      alpha_pattern.lookup(l, m, &al);
      mod.scale = rslora ? (float)al / std::sqrt((float)mod.rank) : (float)al / (float)mod.rank;
      mod.A.resize((size_t)p.A->numel());
      mod.B.resize((size_t)p.B->numel());
      QUIVER_TRY(file->read_f32(*p.A, mod.A.data()));
      QUIVER_TRY(file->read_f32(*p.B, mod.B.data()));
      for (const auto* v : {&mod.A, &mod.B})
        for (float x : *v)
          if (!std::isfinite(x)) return Error(QUIVER_ERR_NON_FINITE, "layer %d %s: LoRA weights contain NaN or Inf", l, module_name(m));
      a.max_rank = std::max(a.max_rank, mod.rank);
      a.num_modules++;
    }
  }
  a.bytes = bytes;
  *out = std::move(a);
  return Status::Ok();
}

namespace {
// The fused rank of (layer, module): the sum of the parts' ranks (concatenation) or the largest.
int fused_rank(const std::vector<const HostAdapter*>& parts, bool concatenate, int layer, int m) {
  int r = 0;
  for (const HostAdapter* p : parts) {
    const int pr = p->at(layer, m).rank;
    r = concatenate ? r + pr : std::max(r, pr);
  }
  return r;
}
}  // namespace

int64_t host_adapter_fused_bytes(const std::vector<const HostAdapter*>& parts, bool concatenate, const ModelConfig& base) {
  int64_t bytes = 0;
  for (int l = 0; l < base.n_layers; ++l)
    for (int m = 0; m < kModuleCount; ++m)
      bytes += 4ll * fused_rank(parts, concatenate, l, m) * (module_in(base, m) + module_out(base, m));
  return bytes;
}

void host_adapter_fuse(const std::vector<const HostAdapter*>& parts, const std::vector<float>& weights, bool concatenate,
                       const ModelConfig& base, HostAdapter* out) {
  HostAdapter f;
  f.dir = concatenate ? "(fusion-cat)" : "(fusion)";
  f.alpha = 1;
  f.modules.resize((size_t)base.n_layers * kModuleCount);
  for (int l = 0; l < base.n_layers; ++l) {
    for (int m = 0; m < kModuleCount; ++m) {
      const int in = module_in(base, m), outf = module_out(base, m);
      const int r = fused_rank(parts, concatenate, l, m);
      if (r == 0) continue;
      LoraModule& dst = f.modules[(size_t)l * kModuleCount + m];
      dst.rank = r;
      dst.scale = 1;
      dst.A.assign((size_t)r * in, 0.0f);    // (r, in)
      dst.B.assign((size_t)outf * r, 0.0f);  // (out, r)
      int row0 = 0;  // concatenation: where part j's rows start
      for (size_t j = 0; j < parts.size(); ++j) {
        const LoraModule& src = parts[j]->at(l, m);
        if (src.rank == 0) continue;
        const float w = weights[j];
        const int off = concatenate ? row0 : 0;
        for (int i = 0; i < src.rank; ++i)
          for (int c = 0; c < in; ++c) dst.A[(size_t)(off + i) * in + c] += w * src.A[(size_t)i * in + c];
        const float bw = concatenate ? src.scale : w * src.scale;
        for (int o = 0; o < outf; ++o)
          for (int i = 0; i < src.rank; ++i) dst.B[(size_t)o * r + off + i] += bw * src.B[(size_t)o * src.rank + i];
        row0 += src.rank;
      }
      f.max_rank = std::max(f.max_rank, r);
      f.num_modules++;
      f.bytes += 4ll * r * (in + outf);
    }
  }
  *out = std::move(f);
}

}  // namespace quiver
