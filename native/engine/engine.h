// The engine: one base model on one backend, a registry of validated adapters with a
// bounded set of resident slots (LRU over adapters the current step does not use), and
// sequences with their own KV cache and sampler. quiver.h is its C face.
//
// Adapter residency: REGISTERED (validated, in host memory) -> RESIDENT (holds a slot,
// its matrices in backend memory) -> back to REGISTERED when evicted; freed on unload.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "../backends/backend.h"
#include "../backends/fault_backend.h"
#include "adapter.h"
#include "forward.h"
#include "model.h"
#include "sampler.h"

namespace quiver {

// An adapter's matrices in backend memory: modules (n_layers * kModuleCount).
struct DeviceAdapter {
  struct Mod {
    int rank = 0;
    float scale = 0;
    const float* A = nullptr;  // (rank, in)
    const float* B = nullptr;  // in the backend's layout (Backend::lora_upload)
    Lanes lanes = Lanes::kF32;  // of A and B
  };
  std::vector<Mod> modules;
  std::vector<float*> owned;  // backend allocations to release (empty when host memory is used in place)
  size_t bytes = 0;           // what the backend holds for it (Backend::lora_upload)
  uint64_t order = 0;         // where its deltas come in a row's sum (LoraSeg::order)
};

struct AdapterEntry {
  int id = 0;
  HostAdapter host;
  int slot = -1;             // -1: REGISTERED only
  uint64_t last_used = 0;    // step tick, for LRU
  DeviceAdapter dev;
  bool prepared = false;     // REGISTERED with `dev` already laid out (adapter_read's prepare): a slot copies nothing
};

// An adapter read off the engine's thread (Engine::adapter_read), waiting for adapter_add.
struct StagedAdapter {
  HostAdapter host;
  DeviceAdapter dev;
  bool prepared = false;     // `dev` holds the backend's layout (host-memory backends, when asked)
};

struct Sequence {
  int id = 0;
  int len = 0;               // positions held in the KV cache
  float* kv = nullptr;       // (n_layers, 2, cap, kv_dim) in backend memory
  int cap = 0;
  Sampler sampler;
  // The per-sample adapter of a FUSION strategy, rebuilt when the mapping changes.
  std::string fused_key;
  DeviceAdapter fused;
  HostAdapter fused_host;
  int64_t fused_bytes = 0;   // what it holds of the engine's fused budget (fused_host.bytes)
};

struct EngineOptions {
  std::string model_dir;
  quiver_device device = QUIVER_DEVICE_AUTO;
  int threads = 0;
  int adapter_slots = 16;
  AdapterLimits limits;
  int max_context = 0;
  // Tokens one forward pass processes at most; a step's longer prefills are chunked to fit.
  int max_step_tokens = 2048;
  // The fused adapters of all sequences together, in f32 bytes of A and B (as
  // AdapterLimits::max_bytes counts): a FUSION item past it fails with NO_FREE_SLOT.
  int64_t max_fused_bytes = 2ll << 30;
  bool cpu_generic = false;
  std::string cublas;  // the CUDA devices' products (backends/cublas.h); "" = $QUIVER_CUBLAS
  bool test_faults = false;  // tests only: install the fault hook (backends/fault_backend.h)
};

class Engine {
 public:
  ~Engine();
  Status init(const EngineOptions& options);
  void info(quiver_engine_info* out) const;

  Status adapter_load(const std::string& dir, int* id);
  // adapter_load in two halves. adapter_read reads and validates the folder and, with
  // `prepare` on a backend that keeps adapters in host memory, lays it out in the backend's
  // layout; it reads only what init() fixed (the model's config, the limits, the backend),
  // so it runs on any thread beside every call but the engine's destruction. adapter_add
  // registers the result (cheap); adapter_discard frees one that will not be added.
  Status adapter_read(const std::string& dir, bool prepare, StagedAdapter* out) const;
  Status adapter_add(StagedAdapter&& staged, int* id);
  void adapter_discard(StagedAdapter* staged) const;
  Status adapter_free(int id);
  Status adapter_info(int id, quiver_adapter_info* out) const;

  Status sequence_init(const quiver_sampling& sampling, int* id);
  Status sequence_free(int id);
  void sequence_cancel(int id);  // any thread
  Status sequence_length(int id, int* out) const;

  Status step(const quiver_step_item* items, int n, quiver_lora_kernel kernel, quiver_step_result* results,
              float* logits);
  Status generate(int seq_id, const quiver_generate_request& req, quiver_token_callback cb, void* user,
                  int32_t* out_tokens, int32_t* out_n, quiver_finish_reason* reason);
  Status measure_bandwidth(int64_t bytes, int repeats, double* gbps);
  Status measure_compute(double seconds, int repeats, double* gflops);
  // Tests only, with EngineOptions::test_faults (INVALID_ARGUMENT otherwise).
  Status test_faults(const FaultPlan& plan);
  Status test_state(quiver_engine_test_state* out) const;

 private:
  bool cancelled(int id);
  // Both touch only `dev` and the backend's allocator (thread-safe on host-memory backends).
  Status upload_adapter(const HostAdapter& host, DeviceAdapter* dev) const;
  void release_adapter(DeviceAdapter* dev) const;
  // Makes `e` resident, evicting the least recently used adapter not in `pinned`.
  Status make_resident(AdapterEntry* e, const std::set<int>& pinned);
  Status ensure_kv(Sequence* s, int need);
  // Builds the sequence's fused adapter for a FUSION item, unless its mapping is the one it holds.
  Status ensure_fused(const quiver_step_item& it, Sequence* seq);
  void release_fused(Sequence* seq);
  Status validate_item(const quiver_step_item& it, std::vector<int>* seen_seqs);
  // A forward pass's share of one item: its tokens [off, off + n).
  struct Chunk {
    int item, off, n;
  };
  void build_plan(const quiver_step_item* items, const std::vector<Chunk>& chunks, quiver_lora_kernel kernel);

  EngineOptions opt_;
  std::unique_ptr<Backend> be_;
  FaultBackend* faults_ = nullptr;     // be_ itself when the test hook is installed
  std::string device_note_;
  HostModel host_;
  ModelWeights dev_weights_;           // in backend memory
  std::vector<float*> owned_weights_;  // backend allocations (empty on CPU)
  int64_t weight_bytes_ = 0;
  int max_context_ = 0;
  std::unique_ptr<ForwardPass> fwd_;

  std::map<int, std::unique_ptr<AdapterEntry>> adapters_;
  std::vector<int> slots_;             // adapter id in each slot, -1 when free
  std::map<int, std::unique_ptr<Sequence>> seqs_;
  int next_adapter_id_ = 1, next_seq_id_ = 1;
  uint64_t tick_ = 0;
  int step_passes_ = 0, step_max_rows_ = 0;  // the last step's forward passes and its largest (test state)
  int64_t fused_bytes_ = 0;            // the sequences' fused adapters (f32 bytes), at most opt_.max_fused_bytes

  std::mutex cancel_mu_;
  std::set<int> cancelled_;

  StepPlan plan_;                      // reused across steps
  std::vector<float> logits_;          // (S, vocab), reused
};

}  // namespace quiver
