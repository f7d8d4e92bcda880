// Engine setup, adapter registry and slots, sequences and their KV caches (see engine.h).
// The step and the generation loop are in step.cpp.
#include "engine.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

namespace quiver {

Engine::~Engine() {
  if (!be_) return;
  for (auto& kv : seqs_) {
    if (kv.second->kv) be_->release(kv.second->kv);
    release_adapter(&kv.second->fused);
  }
  for (auto& kv : adapters_) release_adapter(&kv.second->dev);
  fwd_.reset();
  for (float* p : owned_weights_) be_->release(p);
}

Status Engine::init(const EngineOptions& o) {
  opt_ = o;
  if (opt_.adapter_slots <= 0) opt_.adapter_slots = 16;
  if (opt_.max_step_tokens <= 0) opt_.max_step_tokens = EngineOptions().max_step_tokens;
  if (opt_.max_fused_bytes <= 0) opt_.max_fused_bytes = EngineOptions().max_fused_bytes;
  QUIVER_TRY(host_model_load(o.model_dir, &host_));
  const ModelConfig& c = host_.config;

  std::string why;
  switch (o.device) {
    case QUIVER_DEVICE_CPU_REFERENCE: be_ = backend_cpu_reference(); break;
    case QUIVER_DEVICE_CPU: be_ = backend_cpu_fast(o.threads, o.cpu_generic); break;
    case QUIVER_DEVICE_CUDA_EMULATED: be_ = backend_cuda_emulated(o.threads, o.cublas); break;
    case QUIVER_DEVICE_CUDA:
      be_ = backend_cuda(&why, o.cublas);
      if (!be_) return Error(QUIVER_ERR_DEVICE, "device cuda requested but %s", why.c_str());
      break;
    default:
      be_ = backend_cuda(&why, o.cublas);
      if (!be_) {
        device_note_ = "CUDA unavailable (" + why + "); running on the CPU";
        be_ = backend_cpu_fast(o.threads, o.cpu_generic);
      }
  }
  if (o.test_faults) {
    faults_ = new FaultBackend(std::move(be_), c.vocab_size);
    be_.reset(faults_);
  }
  const std::string note = be_->note();
  if (!note.empty()) device_note_ = device_note_.empty() ? note : device_note_ + "; " + note;

  // Weights: CPU backends use the host vectors in place; others get a copy.
  if (be_->host_memory()) {
    // The GEMM weights in the backend's layout; a host tensor that got a packed copy is
    // freed at once (the embedding table stays: it is read by rows, and tied heads share it).
    dev_weights_ = host_.weights;
    auto pack = [&](const float** w, int out, int in) -> Status {
      const float* original = *w;
      QUIVER_TRY(be_->pack_weight(original, out, in, w, &owned_weights_));
      if (*w == original || original == host_.weights.embed) return Status::Ok();
      for (auto& t : host_.tensors)
        if (t.data() == original) std::vector<float>().swap(t);
      return Status::Ok();
    };
    for (auto& L : dev_weights_.layers)
      for (int m = 0; m < kModuleCount; ++m) QUIVER_TRY(pack(&L.proj(m), module_out(c, m), module_in(c, m)));
    QUIVER_TRY(pack(&dev_weights_.lm_head, c.vocab_size, c.dim));
  } else {
    std::unordered_map<const float*, const float*> moved;
    for (auto& t : host_.tensors) {
      float* d = nullptr;
      QUIVER_TRY(be_->alloc(t.size(), &d));
      owned_weights_.push_back(d);
      QUIVER_TRY(be_->upload(d, t.data(), t.size()));
      moved[t.data()] = d;
    }
    const ModelWeights& h = host_.weights;
    dev_weights_.embed = moved[h.embed];
    dev_weights_.final_norm = moved[h.final_norm];
    dev_weights_.lm_head = moved[h.lm_head];
    dev_weights_.layers = h.layers;
    for (auto& L : dev_weights_.layers)
      for (const float** p : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.ffn_norm, &L.w_gate, &L.w_up, &L.w_down})
        *p = moved[*p];
    host_.tensors.clear();
    host_.tensors.shrink_to_fit();
  }
  // Bytes one step reads: every weight, with the classifier read in full and the
  // embedding table (when separate) only row by row.
  weight_bytes_ = 4 * (host_.num_parameters - (c.tied ? 0 : (int64_t)c.vocab_size * c.dim));
  max_context_ = o.max_context > 0 ? std::min(o.max_context, c.max_position) : c.max_position;
  slots_.assign((size_t)opt_.adapter_slots, -1);
  fwd_.reset(new ForwardPass(be_.get(), c, dev_weights_));
  plan_.lora.resize((size_t)c.n_layers * kModuleCount);
  plan_.dense_lora.resize((size_t)c.n_layers * kModuleCount);
  return Status::Ok();
}

void Engine::info(quiver_engine_info* out) const {
  const ModelConfig& c = host_.config;
  std::memset(out, 0, sizeof *out);
  out->vocab_size = c.vocab_size;
  out->hidden_size = c.dim;
  out->intermediate_size = c.hidden;
  out->num_layers = c.n_layers;
  out->num_heads = c.n_heads;
  out->num_kv_heads = c.n_kv_heads;
  out->head_dim = c.head_dim;
  out->max_context = max_context_;
  out->bos_token_id = c.bos_token_id;
  for (int id : c.eos_token_ids)
    if (out->num_eos_token_ids < 8) out->eos_token_ids[out->num_eos_token_ids++] = id;
  out->tied_embeddings = c.tied;
  out->num_parameters = host_.num_parameters;
  out->weight_bytes = weight_bytes_;
  std::snprintf(out->device, sizeof out->device, "%s", be_->name());
  std::snprintf(out->kernels, sizeof out->kernels, "%s", be_->kernels());
  std::snprintf(out->device_note, sizeof out->device_note, "%s", device_note_.c_str());
  out->threads = be_->threads();
  out->adapter_slots = (int32_t)slots_.size();
  out->max_step_tokens = opt_.max_step_tokens;
}

// ---------------------------------------------------------------- adapters

// Places every module of `host` in backend memory; on failure, whatever it placed is
// released and `dev` holds nothing.
Status Engine::upload_adapter(const HostAdapter& host, DeviceAdapter* dev) const {
  const ModelConfig& c = host_.config;
  release_adapter(dev);
  dev->modules.assign(host.modules.size(), DeviceAdapter::Mod{});
  for (size_t i = 0; i < host.modules.size(); ++i) {
    const LoraModule& m = host.modules[i];
    if (m.rank == 0) continue;
    const int module = (int)(i % kModuleCount);
    DeviceAdapter::Mod& d = dev->modules[i];
    d.rank = m.rank;
    d.scale = m.scale;
    Status st = be_->lora_upload(m.A.data(), m.B.data(), m.rank, module_in(c, module), module_out(c, module), &d.A, &d.B,
                                 &d.lanes, &dev->owned, &dev->bytes);
    if (!st.ok()) {
      release_adapter(dev);
      return st;
    }
  }
  return Status::Ok();
}

void Engine::release_adapter(DeviceAdapter* dev) const {
  for (float* p : dev->owned) be_->release(p);
  dev->owned.clear();
  dev->modules.clear();
  dev->bytes = 0;
}

Status Engine::adapter_load(const std::string& dir, int* id) {
  StagedAdapter staged;
  QUIVER_TRY(adapter_read(dir, false, &staged));
  return adapter_add(std::move(staged), id);
}

Status Engine::adapter_read(const std::string& dir, bool prepare, StagedAdapter* out) const {
  QUIVER_TRY(WithContext(host_adapter_load(dir, host_.config, opt_.limits, &out->host), "adapter " + dir + ": "));
  // Device memory is the engine thread's (a CUDA context, its streams): there the copy stays
  // with the step that first uses the adapter.
  if (prepare && be_->host_memory()) {
    QUIVER_TRY(upload_adapter(out->host, &out->dev));
    out->prepared = true;
  }
  return Status::Ok();
}

Status Engine::adapter_add(StagedAdapter&& staged, int* id) {
  std::unique_ptr<AdapterEntry> e(new AdapterEntry());
  // Moving the host copy keeps its buffers where they are, so a prepared `dev` that points
  // into them (the reference backend uses host copies in place) stays valid.
  e->host = std::move(staged.host);
  e->dev = std::move(staged.dev);
  e->prepared = staged.prepared;
  staged.prepared = false;
  e->id = next_adapter_id_++;
  e->dev.order = (uint64_t)e->id;
  *id = e->id;
  adapters_[e->id] = std::move(e);
  return Status::Ok();
}

void Engine::adapter_discard(StagedAdapter* staged) const {
  release_adapter(&staged->dev);
  staged->prepared = false;
}

Status Engine::adapter_free(int id) {
  auto it = adapters_.find(id);
  if (it == adapters_.end()) return Error(QUIVER_ERR_NOT_FOUND, "adapter %d is not registered", id);
  if (it->second->slot >= 0) slots_[(size_t)it->second->slot] = -1;
  release_adapter(&it->second->dev);
  adapters_.erase(it);
  return Status::Ok();
}

Status Engine::adapter_info(int id, quiver_adapter_info* out) const {
  auto it = adapters_.find(id);
  if (it == adapters_.end()) return Error(QUIVER_ERR_NOT_FOUND, "adapter %d is not registered", id);
  const AdapterEntry& e = *it->second;
  out->id = e.id;
  out->max_rank = e.host.max_rank;
  out->num_modules = e.host.num_modules;
  out->resident = e.slot >= 0;
  out->slot = e.slot;
  out->alpha = e.host.alpha;
  out->use_rslora = e.host.rslora;
  out->bytes = e.host.bytes;
  out->resident_bytes = e.slot >= 0 ? (int64_t)e.dev.bytes : 0;
  return Status::Ok();
}

Status Engine::make_resident(AdapterEntry* e, const std::set<int>& pinned) {
  if (e->slot >= 0) return Status::Ok();
  int slot = -1;
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i] < 0) { slot = (int)i; break; }
  AdapterEntry* victim = nullptr;
  if (slot < 0) {  // evict the least recently used adapter that this step does not use
    for (int id : slots_) {
      AdapterEntry* c = adapters_[id].get();
      if (pinned.count(id)) continue;
      if (!victim || c->last_used < victim->last_used) victim = c;
    }
    if (!victim)
      return Error(QUIVER_ERR_NO_FREE_SLOT, "all %zu adapter slots hold adapters this step uses", slots_.size());
    slot = victim->slot;
    // The victim's memory goes first, so that the new adapter fits where the victim did.
    release_adapter(&victim->dev);
    victim->slot = -1;
    slots_[(size_t)slot] = -1;
  }
  // Prepared when it was read: its layout is in place, nothing to copy in this step.
  Status st = e->prepared ? Status::Ok() : upload_adapter(e->host, &e->dev);
  e->prepared = false;
  if (!st.ok()) {
    // Nothing of the new adapter stays (upload_adapter released it); the victim comes back
    // from its host copy into the memory it left. If even that fails it stays REGISTERED,
    // and a later step that uses it loads it again.
    if (victim && upload_adapter(victim->host, &victim->dev).ok()) {
      victim->slot = slot;
      slots_[(size_t)slot] = victim->id;
    }
    return st;
  }
  e->slot = slot;
  slots_[(size_t)slot] = e->id;
  return Status::Ok();
}

// ---------------------------------------------------------------- sequences

Status Engine::sequence_init(const quiver_sampling& s, int* id) {
  if (!(s.temperature >= 0) || s.top_k < 0 || !(s.top_p >= 0 && s.top_p <= 1))
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "sampling needs temperature >= 0, top_k >= 0 and top_p in [0, 1]");
  std::unique_ptr<Sequence> seq(new Sequence());
  seq->id = next_seq_id_++;
  seq->fused.order = (1ull << 32) + (uint64_t)seq->id;
  seq->sampler = Sampler(s.temperature, s.top_k, s.top_p, s.seed);
  *id = seq->id;
  seqs_[seq->id] = std::move(seq);
  return Status::Ok();
}

Status Engine::sequence_free(int id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return Error(QUIVER_ERR_NOT_FOUND, "sequence %d does not exist", id);
  if (it->second->kv) be_->release(it->second->kv);
  release_fused(it->second.get());
  seqs_.erase(it);
  std::lock_guard<std::mutex> lock(cancel_mu_);
  cancelled_.erase(id);
  return Status::Ok();
}

void Engine::sequence_cancel(int id) {
  std::lock_guard<std::mutex> lock(cancel_mu_);
  cancelled_.insert(id);
}

bool Engine::cancelled(int id) {
  std::lock_guard<std::mutex> lock(cancel_mu_);
  return cancelled_.count(id) != 0;
}

Status Engine::sequence_length(int id, int* out) const {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return Error(QUIVER_ERR_NOT_FOUND, "sequence %d does not exist", id);
  *out = it->second->len;
  return Status::Ok();
}

// Grows a sequence's cache to hold `need` positions (doubling, capped by the context).
Status Engine::ensure_kv(Sequence* s, int need) {
  if (need <= s->cap) return Status::Ok();
  const ModelConfig& c = host_.config;
  int cap = std::max(need, std::min(max_context_, std::max(16, 2 * s->cap)));
  const size_t KV = (size_t)c.kv_dim();
  float* kv = nullptr;
  QUIVER_TRY(be_->alloc((size_t)c.n_layers * 2 * cap * KV, &kv));
  if (s->kv) {
    for (int part = 0; part < c.n_layers * 2; ++part) {
      Status st = be_->copy(kv + (size_t)part * cap * KV, s->kv + (size_t)part * s->cap * KV, (size_t)s->len * KV);
      if (!st.ok()) {
        be_->release(kv);
        return st;
      }
    }
    be_->release(s->kv);
  }
  s->kv = kv;
  s->cap = cap;
  return Status::Ok();
}

Status Engine::measure_compute(double seconds, int repeats, double* gflops) {
  if (!(seconds > 0 && seconds <= 10) || repeats <= 0)
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "compute probe needs 0 < seconds <= 10 and repeats > 0");
  return be_->measure_compute(seconds, repeats, gflops);
}

Status Engine::test_faults(const FaultPlan& plan) {
  if (!faults_) return Error(QUIVER_ERR_INVALID_ARGUMENT, "the fault hook is for tests: open the engine with test_faults");
  faults_->arm(plan);
  return Status::Ok();
}

Status Engine::test_state(quiver_engine_test_state* out) const {
  if (!faults_) return Error(QUIVER_ERR_INVALID_ARGUMENT, "the test state is for tests: open the engine with test_faults");
  std::memset(out, 0, sizeof *out);
  out->live_allocations = faults_->live_allocations();
  out->live_bytes = faults_->live_bytes();
  out->step_passes = step_passes_;
  out->step_max_rows = step_max_rows_;
  const Backend::StepScratch scratch = faults_->step_scratch();
  out->lora_scratch_bytes = scratch.lora_bytes;
  out->score_bytes = scratch.score_bytes;
  return Status::Ok();
}

Status Engine::measure_bandwidth(int64_t bytes, int repeats, double* gbps) {
  if (bytes <= 0 || repeats <= 0) return Error(QUIVER_ERR_INVALID_ARGUMENT, "bandwidth needs bytes > 0 and repeats > 0");
  return be_->measure_bandwidth(bytes, repeats, gbps);
}

}  // namespace quiver
