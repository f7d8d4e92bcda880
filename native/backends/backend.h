// The contract every implementation of the model ops meets: the naive CPU reference
// (cpu_reference.cpp), the fast CPU path (cpu_fast.cpp) and the device backend
// (device_backend.h: CUDA, cuda_backend.cu, or its kernels on the host, "cuda-emulated"). The
// forward pass (engine/forward.cpp) is written once against this interface; a backend
// owns its memory (host or device) and runs the ops of one step, described by a StepPlan.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../engine/model.h"
#include "../engine/status.h"
#include "lanes.h"

namespace quiver {

// Gather form (Punica): y[r] += scale * B @ (A @ x[r]) for rows r in [row0, row1).
// A decode row is a segment of one row (BGMV); a prefill chunk is a longer one (SGMV).
// A and B live in backend memory in the backend's layout (see Backend::lora_upload).
struct LoraSeg {
  int32_t row0 = 0, row1 = 0;
  int32_t rank = 0;
  float scale = 0;           // mapping weight * adapter scaling
  const float* A = nullptr;  // (rank, in)
  const float* B = nullptr;  // (out, rank), or (rank, out) for a backend that transposes
  Lanes lanes = Lanes::kF32; // how A and B are stored (lanes.h; Backend::lora_upload chose)
  // The adapter's place in a row's sum of deltas: its registry id (a sequence's fused
  // adapter: 2^32 + the sequence id). Segments are sorted by it, so a row's deltas add up in
  // one order wherever the adapters lie in memory: across evictions and reloads too.
  uint64_t order = 0;
};

// Dense form (the paper): for every adapter j of the batch and every row r,
// y[r] += coef[r, j] * scale_j * B_j @ (A_j @ x[r]), computed even where coef is 0.
struct DenseLora {
  int32_t rank = 0;          // 0: adapter j lacks this module
  float scale = 0;           // the adapter's scaling for this module
  const float* A = nullptr;  // (rank, in)
  const float* B = nullptr;  // as in LoraSeg
  Lanes lanes = Lanes::kF32; // as in LoraSeg
};

// One step: T rows (tokens) from S sequences, each sequence a contiguous run of rows.
struct StepPlan {
  int32_t n_rows = 0;              // T
  int32_t n_seqs = 0;              // S
  std::vector<int32_t> tokens;     // (T)
  std::vector<int32_t> pos;        // (T) position of each row in its sequence
  std::vector<int32_t> row_seq;    // (T) which sequence a row belongs to
  std::vector<int32_t> seq_row0;   // (S) first row of each sequence
  std::vector<int32_t> seq_rows;   // (S) rows of each sequence
  std::vector<float*> kv;          // (S) each sequence's cache, (n_layers, 2, kv_cap, kv_dim)
  std::vector<int32_t> kv_cap;     // (S) positions the cache holds
  bool dense = false;
  // gather: segments for each (layer, module), index layer * kModuleCount + module
  std::vector<std::vector<LoraSeg>> lora;
  // dense: the p adapters of the batch for each (layer, module), and coef (T, p)
  int32_t dense_p = 0;
  std::vector<std::vector<DenseLora>> dense_lora;
  std::vector<float> dense_coef;   // (T, p) mapping weight of adapter j for row r, else 0
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // True when backend memory is host memory (the CPU backends use host arrays in place).
  virtual bool host_memory() const = 0;

  // ---- memory (counts in floats) ----
  virtual Status alloc(size_t n, float** out) = 0;  // zero-filled
  virtual void release(float* p) = 0;
  virtual Status upload(float* dst, const float* src, size_t n) = 0;
  virtual Status download(float* dst, const float* src, size_t n) = 0;
  virtual Status copy(float* dst, const float* src, size_t n) = 0;

  // Places one LoRA module, A (rank, in) and B (out, rank) in host memory, where this
  // backend's lora op reads it. The default keeps host arrays in place on host-memory
  // backends and copies them otherwise (f32 lanes); allocations made are appended to
  // `owned`, and the bytes the module then occupies are added to *bytes.
  virtual Status lora_upload(const float* A, const float* B, int rank, int in, int out, const float** dA,
                             const float** dB, Lanes* lanes, std::vector<float*>* owned, size_t* bytes);

  // Lays out a base weight W (out, in), read only by matmul and projection, the way this
  // backend's GEMM reads it. The default keeps W as it is (*packed = W); allocations made
  // are appended to `owned`.
  virtual Status pack_weight(const float* W, int out, int in, const float** packed, std::vector<float*>* owned) {
    (void)out, (void)in, (void)owned;
    *packed = W;
    return Status::Ok();
  }

  // ---- one step ----
  // Keeps (a reference to) the plan for the ops that follow; CUDA copies it to the device.
  virtual Status begin_step(const ModelConfig& c, const StepPlan& plan) = 0;
  // x[r] = table[tokens[r]]; x (T, dim), table (vocab, dim)
  virtual void embed(const float* table, float* x) = 0;
  // out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w; x, out (rows, dim), w (dim)
  virtual void rmsnorm(const float* x, const float* w, float* out, int rows) = 0;
  // y = x @ W^T (accumulate: y += x @ W^T); x (rows, in), W (out, in), y (rows, out)
  virtual void matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) = 0;
  // Rotary embedding (Hugging Face layout: element i pairs with i + head_dim/2) at pos[r];
  // q (T, n_heads*head_dim), k (T, kv_dim)
  virtual void rope(float* q, float* k) = 0;
  // Writes each row's k, v (T, kv_dim) at its position into its sequence's cache.
  virtual void kv_store(int layer, const float* k, const float* v) = 0;
  // Causal attention of each row over its sequence's cache positions [0, pos[r]];
  // q, out (T, n_heads*head_dim)
  virtual void attention(int layer, const float* q, float* out) = 0;
  // gate = silu(gate) * up; gate, up (T, hidden)
  virtual void swiglu(float* gate, const float* up) = 0;
  // The plan's LoRA deltas of (layer, module): x (T, in), y (T, out); y += delta(x).
  virtual void lora(int layer, int module, const float* x, float* y, int in, int out) = 0;
  // A projection with its LoRA deltas: y = x @ W^T (+ y when accumulate) + delta(x); by
  // default matmul then lora (a backend may overlap the two).
  virtual void projection(int layer, int module, const float* x, const float* W, float* y, int rows, int in, int out,
                          bool accumulate) {
    matmul(x, W, y, rows, in, out, accumulate);
    lora(layer, module, x, y, in, out);
  }
  // out[s] = x[seq_row0[s] + seq_rows[s] - 1]: the last row of each sequence;
  // x (T, dim), out (S, dim)
  virtual void gather_last(const float* x, float* out) = 0;
  // Finishes the step (a device sync); reports errors the ops met.
  virtual Status end_step() = 0;

  // Bytes/s of reading `bytes` of memory `repeats` times with all threads (bench).
  virtual Status measure_bandwidth(int64_t bytes, int repeats, double* gbps) = 0;
  // FLOP/s of f32 multiply-adds with all threads, the fastest of `repeats` passes of about
  // `seconds` each (bench). Backends without a probe answer UNSUPPORTED.
  virtual Status measure_compute(double seconds, int repeats, double* gflops) {
    (void)seconds, (void)repeats, (void)gflops;
    return Error(QUIVER_ERR_UNSUPPORTED, "the %s backend has no compute probe", name());
  }
  // What the last step asked of the backend's own step buffers, in bytes (the device
  // backend's LoRA scratch and attention scores; tests read it through quiver_engine_test_state).
  struct StepScratch {
    int64_t lora_bytes = 0;
    int64_t score_bytes = 0;
  };
  virtual StepScratch step_scratch() const { return {}; }
  virtual int threads() const { return 1; }
  // Which kernel set runs (the fast CPU path picks one at run time).
  virtual const char* kernels() const { return name(); }
  // What the engine should say about how it runs (the CUDA device: cuBLAS or not, and why).
  virtual std::string note() const { return {}; }
};

std::unique_ptr<Backend> backend_cpu_reference();
// generic: portable kernels even where AVX2+FMA would run.
std::unique_ptr<Backend> backend_cpu_fast(int threads, bool generic);
// nullptr with a reason when CUDA is not compiled in or no GPU answers.
// cublas: backends/cublas.h ("" = $QUIVER_CUBLAS).
std::unique_ptr<Backend> backend_cuda(std::string* why_not, const std::string& cublas);
// The CUDA backend's code and kernels run on the host ("cuda-emulated", for tests).
std::unique_ptr<Backend> backend_cuda_emulated(int threads, const std::string& cublas);
bool backend_cuda_compiled();

}  // namespace quiver
