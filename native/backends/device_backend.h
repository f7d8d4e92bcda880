// The device inference backend: the ops of backend.h as the element-wise kernels of
// device_ops.h (the projections on cuBLAS or the device's tiled GEMM) on a device `Dev`,
// with the step's metadata and LoRA entries copied to device memory. Dev is CudaDev
// (cuda_dev.cuh; the "cuda" device) or HostDev (host_dev.h; "cuda-emulated", which runs this
// code and these kernels on the host, so that CI tests them without a GPU). The interface
// Dev provides is described in train/device_trainer.h, plus copy, measure_bandwidth and
// threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"
#include "device_ops.h"

namespace quiver {

template <class Dev>
class DeviceBackend final : public Backend {
 public:
  explicit DeviceBackend(std::unique_ptr<Dev> dev)
      : dev_(std::move(dev)), kernels_(std::string(Dev::kName) + (dev_->blas() ? "+cublas" : "")) {}
  ~DeviceBackend() override {
    for (void* p : {(void*)d_meta_, (void*)d_entries_, (void*)d_v_, (void*)d_scores_, (void*)d_rms_}) dev_->release(p);
  }
  const char* name() const override { return Dev::kName; }
  const char* kernels() const override { return kernels_.c_str(); }
  std::string note() const override { return dev_->gemm_note(); }
  bool host_memory() const override { return false; }
  int threads() const override { return dev_->threads(); }

  Status alloc(size_t n, float** out) override {
    void* p = dev_->alloc(n * sizeof(float));
    QUIVER_TRY(dev_->status("an allocation"));
    *out = static_cast<float*>(p);
    return Status::Ok();
  }
  void release(float* p) override { dev_->release(p); }

  // A module whose values are all bf16 (or f16) values goes to the device in 16-bit lanes
  // (lanes.h): half the memory, the same results.
  Status lora_upload(const float* A, const float* B, int rank, int in, int out, const float** dA, const float** dB,
                     Lanes* lanes_out, std::vector<float*>* owned, size_t* bytes) override {
    const size_t na = (size_t)rank * in, nb = (size_t)out * rank;
    const Lanes lanes = module_lanes(A, na, B, nb);
    if (lanes == Lanes::kF32) return Backend::lora_upload(A, B, rank, in, out, dA, dB, lanes_out, owned, bytes);
    std::vector<uint16_t> h;
    float* d[2] = {nullptr, nullptr};
    const float* src[2] = {A, B};
    const size_t n[2] = {na, nb};
    for (int t = 0; t < 2; ++t) {
      h.resize(n[t] + 1);
      for (size_t i = 0; i < n[t]; ++i) h[i] = half_bits(src[t][i], lanes);
      h[n[t]] = 0;
      QUIVER_TRY(alloc((n[t] + 1) / 2, &d[t]));
      owned->push_back(d[t]);
      dev_->upload(d[t], h.data(), ((n[t] + 1) / 2) * sizeof(float));
      *bytes += ((n[t] + 1) / 2) * sizeof(float);
    }
    *dA = d[0];
    *dB = d[1];
    *lanes_out = lanes;
    return dev_->status("an adapter upload");
  }
  Status upload(float* dst, const float* src, size_t n) override {
    dev_->upload(dst, src, n * sizeof(float));
    return dev_->status("an upload");
  }
  Status download(float* dst, const float* src, size_t n) override {
    dev_->download(dst, src, n * sizeof(float));
    return dev_->status("a download");
  }
  Status copy(float* dst, const float* src, size_t n) override {
    dev_->copy(dst, src, n * sizeof(float));
    return dev_->status("a copy");
  }

  Status begin_step(const ModelConfig& c, const StepPlan& plan) override {
    c_ = c;
    plan_ = &plan;
    const int T = plan.n_rows, S = plan.n_seqs;
    // Row and sequence metadata in one buffer: tokens, pos, row_seq (T each), seq_row0,
    // seq_rows, kv_cap (S each), then the kv pointers (S) and the rows' score offsets (T).
    size_t ptr_off = (size_t)3 * T + 3 * S;
    ptr_off += ptr_off & 1;  // 8-byte alignment for the pointers and offsets
    const size_t score_off = ptr_off + 2 * (size_t)S;
    host_meta_.assign(score_off + 2 * (size_t)T, 0);
    int32_t* m = host_meta_.data();
    std::memcpy(m, plan.tokens.data(), 4 * (size_t)T);
    std::memcpy(m + T, plan.pos.data(), 4 * (size_t)T);
    std::memcpy(m + 2 * T, plan.row_seq.data(), 4 * (size_t)T);
    std::memcpy(m + 3 * T, plan.seq_row0.data(), 4 * (size_t)S);
    std::memcpy(m + 3 * T + S, plan.seq_rows.data(), 4 * (size_t)S);
    std::memcpy(m + 3 * T + 2 * S, plan.kv_cap.data(), 4 * (size_t)S);
    std::memcpy(m + ptr_off, plan.kv.data(), sizeof(float*) * S);
    // The attention's score buffer: each row's own context (pos + 1) for each head, so a
    // decode row beside a long prefill takes what it needs, not the step's longest context.
    int64_t positions = 0;
    maxn_ = 1;
    for (int r = 0; r < T; ++r) {
      std::memcpy(m + score_off + 2 * (size_t)r, &positions, sizeof positions);
      positions += plan.pos[r] + 1;
      maxn_ = std::max(maxn_, plan.pos[r] + 1);
    }
    int64_t score_bytes = 0;
    if (!checked_product({positions, c.n_heads, (int64_t)sizeof(float)}, &score_bytes))
      return Error(QUIVER_ERR_OUT_OF_MEMORY, "the step's attention scores (%lld positions x %d heads) pass 2^63 bytes",
                   (long long)positions, c.n_heads);
    scratch_.score_bytes = score_bytes;
    QUIVER_TRY(ensure(&d_meta_, &meta_cap_, host_meta_.size() * 4));
    int32_t* d = d_meta_;
    rows_ = dev::StepRows{d,          d + T,      d + 2 * T, d + 3 * T, d + 3 * T + S, d + 3 * T + 2 * S,
                          reinterpret_cast<float* const*>(d + ptr_off), reinterpret_cast<const int64_t*>(d + score_off)};
    dev_->upload(d_meta_, host_meta_.data(), host_meta_.size() * 4);
    QUIVER_TRY(ensure(&d_scores_, &scores_cap_, (size_t)score_bytes));
    QUIVER_TRY(ensure(&d_rms_, &rms_cap_, (size_t)std::max(T, S) * 4));
    QUIVER_TRY(build_lora_entries());
    return dev_->status("the step's metadata");
  }

  void embed(const float* table, float* x) override {
    dev_->run((int64_t)plan_->n_rows * c_.dim, dev::Embed{table, rows_.tokens, x, c_.dim});
  }
  void rmsnorm(const float* x, const float* w, float* out, int rows) override {
    dev_->run(rows, dev::RmsStat{x, d_rms_, c_.dim, c_.rms_eps});
    dev_->run((int64_t)rows * c_.dim, dev::RmsApply{x, w, d_rms_, out, c_.dim});
  }
  void matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) override {
    dev_->matmul(x, W, y, rows, in, out, accumulate);
  }
  void rope(float* q, float* k) override {
    const int64_t pairs = (int64_t)plan_->n_rows * (c_.head_dim / 2);
    dev_->run(pairs * c_.n_heads, dev::Rope{q, rows_.pos, c_.n_heads, c_.head_dim, c_.rope_theta, false});
    dev_->run(pairs * c_.n_kv_heads, dev::Rope{k, rows_.pos, c_.n_kv_heads, c_.head_dim, c_.rope_theta, false});
  }
  void kv_store(int layer, const float* k, const float* v) override {
    dev_->run((int64_t)plan_->n_rows * c_.kv_dim(), dev::KvStore{k, v, rows_, layer, c_.kv_dim()});
  }
  void attention(int layer, const float* q, float* out) override {
    const int T = plan_->n_rows, H = c_.n_heads, KVH = c_.n_kv_heads, hd = c_.head_dim;
    dev_->run((int64_t)T * H * maxn_, dev::CacheScores{q, rows_, d_scores_, layer, H, KVH, hd, maxn_});
    dev_->run((int64_t)T * H, dev::CacheSoftmax{d_scores_, rows_, H});
    dev_->run((int64_t)T * H * hd, dev::CacheOut{d_scores_, rows_, out, layer, H, KVH, hd});
  }
  void swiglu(float* gate, const float* up) override {
    dev_->run((int64_t)plan_->n_rows * c_.hidden, dev::SwiGlu{gate, up, gate});
  }
  void lora(int layer, int module, const float* x, float* y, int in, int out) override {
    const LoraOp& op = ops_[(size_t)layer * kModuleCount + module];
    if (op.n_entries == 0) return;
    const dev::LoraEntry* entries = d_entries_ + op.entry0;
    dev_->run((int64_t)op.n_entries * op.max_rank, dev::LoraShrink{entries, x, d_v_, in, op.max_rank});
    dev_->run((int64_t)op.n_rows * out, dev::LoraExpand{entries, d_csr_ + op.csr0, d_csr_ + op.csr0 + op.n_rows + 1, d_v_, y, out});
  }
  void gather_last(const float* x, float* out) override {
    dev_->run((int64_t)plan_->n_seqs * c_.dim, dev::GatherLast{x, out, rows_.seq_row0, rows_.seq_rows, c_.dim});
  }
  Status end_step() override { return dev_->status("the step"); }

  Status measure_bandwidth(int64_t bytes, int repeats, double* gbps) override {
    return dev_->measure_bandwidth(bytes, repeats, gbps);
  }
  StepScratch step_scratch() const override { return scratch_; }

 private:
  struct LoraOp {
    int64_t entry0 = 0, n_entries = 0;  // into d_entries_
    int64_t csr0 = 0, n_rows = 0;       // into d_csr_: row_ptr (n_rows + 1), then rows (n_rows)
    int max_rank = 0;
  };

  // The product of `factors` into *out; false when it passes 2^63 (sizes the host computes).
  static bool checked_product(std::initializer_list<int64_t> factors, int64_t* out) {
    int64_t p = 1;
    for (int64_t f : factors) {
      if (f < 0 || (f != 0 && p > INT64_MAX / f)) return false;
      p *= f;
    }
    *out = p;
    return true;
  }

  // Grows a device buffer to at least `bytes` (doubling), dropping its contents.
  template <typename T>
  Status ensure(T** p, size_t* cap, size_t bytes) {
    if (bytes <= *cap) return Status::Ok();
    const size_t want = std::max(bytes, *cap * 2);
    dev_->release(*p);
    *p = nullptr;
    *cap = 0;
    void* q = dev_->alloc(want);
    QUIVER_TRY(dev_->status("growing a step buffer"));
    *p = static_cast<T*>(q);
    *cap = want;
    return Status::Ok();
  }

  // Entries (row, adapter) of every (layer, module), grouped by row for the expand: a row's
  // entries keep the order of the plan's segments (gather) or adapters (dense). The ops run
  // one after another, so they share one scratch for v: each op's entries take offsets from 0,
  // and the scratch holds the largest op's (the sum of its entries' ranks), not the sum of all.
  Status build_lora_entries() {
    const StepPlan& p = *plan_;
    const size_t n_ops = (size_t)c_.n_layers * kModuleCount;
    ops_.assign(n_ops, LoraOp{});
    entries_.clear();
    csr_.clear();
    int64_t v_max = 0;
    std::vector<std::vector<dev::LoraEntry>> by_row((size_t)p.n_rows);
    for (size_t lm = 0; lm < n_ops; ++lm) {
      for (auto& v : by_row) v.clear();
      if (p.dense) {
        const auto& ads = p.dense_lora[lm];
        for (int r = 0; r < p.n_rows; ++r)
          for (int j = 0; j < p.dense_p; ++j)
            if (ads[j].rank)
              by_row[r].push_back(dev::LoraEntry{r, ads[j].rank, p.dense_coef[(size_t)r * p.dense_p + j] * ads[j].scale, 0, ads[j].A,
                                                 ads[j].B, ads[j].lanes});
      } else {
        for (const LoraSeg& sg : p.lora[lm])
          for (int r = sg.row0; r < sg.row1; ++r) by_row[r].push_back(dev::LoraEntry{r, sg.rank, sg.scale, 0, sg.A, sg.B, sg.lanes});
      }
      LoraOp& op = ops_[lm];
      op.entry0 = (int64_t)entries_.size();
      op.csr0 = (int64_t)csr_.size();
      std::vector<int32_t> row_ptr{0}, rows;
      int64_t voff = 0;
      for (int r = 0; r < p.n_rows; ++r) {
        if (by_row[r].empty()) continue;
        for (dev::LoraEntry e : by_row[r]) {
          e.voff = voff;
          voff += e.rank;
          op.max_rank = std::max(op.max_rank, e.rank);
          entries_.push_back(e);
        }
        rows.push_back(r);
        // the CSR's row pointers count the op's own entries (int32 on the device)
        const int64_t in_op = (int64_t)entries_.size() - op.entry0;
        if (in_op > INT32_MAX)
          return Error(QUIVER_ERR_OUT_OF_MEMORY, "one LoRA op of the step has %lld entries, past 2^31", (long long)in_op);
        row_ptr.push_back((int32_t)in_op);
      }
      op.n_entries = (int64_t)entries_.size() - op.entry0;
      op.n_rows = (int64_t)rows.size();
      v_max = std::max(v_max, voff);
      csr_.insert(csr_.end(), row_ptr.begin(), row_ptr.end());
      csr_.insert(csr_.end(), rows.begin(), rows.end());
    }
    int64_t v_bytes = 0, entry_bytes = 0;
    if (!checked_product({v_max, (int64_t)sizeof(float)}, &v_bytes) ||
        !checked_product({(int64_t)entries_.size(), (int64_t)sizeof(dev::LoraEntry)}, &entry_bytes) ||
        entry_bytes > INT64_MAX - 16 - 4 * (int64_t)csr_.size())
      return Error(QUIVER_ERR_OUT_OF_MEMORY, "the step's LoRA entries pass 2^63 bytes");
    scratch_.lora_bytes = v_bytes;
    if (entries_.empty()) return Status::Ok();
    QUIVER_TRY(ensure(&d_entries_, &entries_cap_, (size_t)entry_bytes + csr_.size() * 4 + 16));
    d_csr_ = reinterpret_cast<int32_t*>(d_entries_ + entries_.size());
    QUIVER_TRY(ensure(&d_v_, &v_cap_, (size_t)v_bytes));
    dev_->upload(d_entries_, entries_.data(), (size_t)entry_bytes);
    dev_->upload(d_csr_, csr_.data(), csr_.size() * 4);
    return Status::Ok();
  }

  std::unique_ptr<Dev> dev_;
  std::string kernels_;  // "cuda", "cuda+cublas", "cuda-emulated" or "cuda-emulated+cublas"
  ModelConfig c_;
  const StepPlan* plan_ = nullptr;
  std::vector<int32_t> host_meta_;
  int32_t* d_meta_ = nullptr;
  size_t meta_cap_ = 0;
  dev::StepRows rows_{};
  int maxn_ = 1;
  StepScratch scratch_;        // what the last step asked for (step_scratch)
  float* d_scores_ = nullptr;  // (heads, pos + 1) per row (StepRows::scores)
  size_t scores_cap_ = 0;
  float* d_rms_ = nullptr;     // one inverse RMS per row
  size_t rms_cap_ = 0;
  std::vector<LoraOp> ops_;
  std::vector<dev::LoraEntry> entries_;
  std::vector<int32_t> csr_;
  dev::LoraEntry* d_entries_ = nullptr;
  size_t entries_cap_ = 0;
  int32_t* d_csr_ = nullptr;
  float* d_v_ = nullptr;
  size_t v_cap_ = 0;
};

}  // namespace quiver
