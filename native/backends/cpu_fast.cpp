// The fast CPU path: the reference ops with threads (a fixed pool), SIMD kernels chosen at
// run time (cpu_kernels.h), and LoRA deltas where each sample gathers only its own adapters.
// Ops not overridden here (embed, rope, kv_store, gather_last) are the reference's.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unordered_set>

#include "cpu_kernels.h"
#include "cpu_reference.h"
#include "thread_pool.h"

namespace quiver {

namespace {
// Below this many multiply-adds an op runs on the calling thread: waking the pool costs
// more than it saves (this is what keeps a tiny model's decode fast).
constexpr int64_t kParallelMacs = 1 << 17;
// Attention tasks are short and numerous: the pool pays off later.
constexpr int64_t kParallelAttention = 1 << 19;
// Output columns per expand task: fixed, so results never depend on the thread count.
constexpr int kExpandChunk = 2 * kExpandBlock;
// A LoRA op whose adapters serve at most this many rows each on average expands adapter by
// adapter (each adapter's B read as one stream); above it, output chunk by output chunk
// (each block of B reused by many rows while it is in the cache). Both give the same bits.
constexpr int kStreamRowsPerAdapter = 4;
constexpr int kShrinkRows = 16;
}  // namespace

class CpuFastBackend : public CpuReferenceBackend {
 public:
  CpuFastBackend(int threads, bool generic)
      : pool_(threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency())),
        k_(cpu_kernels(generic ? "generic" : std::getenv("QUIVER_CPU_ISA"))) {}

  const char* name() const override { return "cpu"; }
  int threads() const override { return pool_.size(); }
  const char* kernels() const override { return k_.isa; }

  // A is stored in shrink panels and B in expand blocks (cpu_kernels.h): each is read front
  // to back, so an adapter's A is one stream (two at rank 16) and its whole B is one. A
  // module whose values are all bf16 (or f16) values, as those of an adapter saved in that
  // type are, keeps 16-bit lanes: half the memory and half the bytes a step reads, the same
  // results.
  Status lora_upload(const float* A, const float* B, int rank, int in, int out, const float** dA, const float** dB,
                     Lanes* lanes_out, std::vector<float*>* owned, size_t* bytes) override {
    const size_t na = (size_t)shrink_panel_count(rank) * kShrinkPanel * in;
    const size_t nb = (size_t)expand_block_count(out) * kExpandBlock * rank;
    const Lanes lanes = k_.shrink_panels_half[0] ? module_lanes(A, (size_t)rank * in, B, (size_t)out * rank) : Lanes::kF32;
    const size_t per = lanes == Lanes::kF32 ? 1 : 2;  // values per float of storage
    float *ap = nullptr, *bb = nullptr;
    QUIVER_TRY(alloc((na + per - 1) / per, &ap));
    owned->push_back(ap);
    QUIVER_TRY(alloc((nb + per - 1) / per, &bb));
    owned->push_back(bb);
    *bytes += sizeof(float) * ((na + per - 1) / per + (nb + per - 1) / per);
    if (lanes == Lanes::kF32) {
      pack_shrink_panels(A, rank, in, ap);
      pack_expand_blocks(B, out, rank, bb);
    } else {
      pack_shrink_panels_half(A, rank, in, lanes, reinterpret_cast<uint16_t*>(ap));
      pack_expand_blocks_half(B, out, rank, lanes, reinterpret_cast<uint16_t*>(bb));
    }
    *dA = ap;
    *dB = bb;
    *lanes_out = lanes;
    return Status::Ok();
  }

  // Base weights become panels (cpu_kernels.h): the GEMM then streams each panel once per
  // block of rows, with no horizontal sums.
  Status pack_weight(const float* W, int out, int in, const float** packed, std::vector<float*>* owned) override {
    float* p = nullptr;
    QUIVER_TRY(alloc((size_t)panel_count(out) * kPanel * in, &p));
    owned->push_back(p);
    pack_panels(W, out, in, p);
    packed_.insert(p);
    *packed = p;
    return Status::Ok();
  }

  void matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) override {
    const int tasks = prepare_matmul(x, W, y, rows, in, out, accumulate);
    run(gemm_.threads, tasks, [&](int t) { matmul_task(t); });
  }

  // The projection and its LoRA shrink in one parallel region (the compute-bound GEMM and
  // the memory-bound adapter reads overlap across threads), then the expand.
  void projection(int layer, int module, const float* x, const float* W, float* y, int rows, int in, int out,
                  bool accumulate) override {
    const int gemm_tasks = prepare_matmul(x, W, y, rows, in, out, accumulate);
    const int64_t lora_macs = prepare_lora(layer, module, x, y, in, out);
    if (lora_macs == 0) {
      run(gemm_.threads, gemm_tasks, [&](int t) { matmul_task(t); });
      return;
    }
    const int shrink_tasks = (int)shrink_tasks_.size();
    const int threads = std::max(gemm_.threads, lora_macs < kParallelMacs ? 1 : pool_.size());
    // Tasks alternate GEMM and shrink while both last, so threads mix the two.
    const int both = std::min(gemm_tasks, shrink_tasks);
    run(threads, gemm_tasks + shrink_tasks, [&](int t) {
      if (t < 2 * both) return (t & 1) ? shrink_task(t >> 1) : matmul_task(t >> 1);
      const int rest = t - 2 * both;
      return gemm_tasks > both ? matmul_task(both + rest) : shrink_task(both + rest);
    });
    expand(threads);
  }

  void attention(int layer, const float* q, float* out) override {
    const int T = plan_->n_rows, nh = c_.n_heads, hd = c_.head_dim, KV = c_.kv_dim(), group = nh / c_.n_kv_heads;
    const float scale = 1.0f / std::sqrt((float)hd);
    int64_t work = 0;
    for (int r = 0; r < T; ++r) work += (int64_t)(plan_->pos[r] + 1) * nh * hd * 2;
    // Tasks are (row, head) pairs, claimed in runs of `per`.
    const int tasks = T * nh;
    const int per = std::max(1, tasks / (pool_.size() * 8));
    const int runs = (tasks + per - 1) / per;
    run(work < kParallelAttention ? 1 : pool_.size(), runs, [&](int g) {
      thread_local std::vector<float> scores;
      for (int t = g * per; t < std::min(tasks, (g + 1) * per); ++t) {
        const int r = t / nh, h = t % nh, s = plan_->row_seq[r], n = plan_->pos[r] + 1, kvh = h / group;
        if ((int)scores.size() < n) scores.resize((size_t)n);
        k_.attend(q + (size_t)r * c_.q_dim() + (size_t)h * hd, cache(s, layer, 0) + (size_t)kvh * hd,
                  cache(s, layer, 1) + (size_t)kvh * hd, n, hd, KV, scale, out + (size_t)r * c_.q_dim() + (size_t)h * hd,
                  scores.data());
      }
    });
  }

  void lora(int layer, int module, const float* x, float* y, int in, int out) override {
    const int64_t macs = prepare_lora(layer, module, x, y, in, out);
    if (macs == 0) return;
    const int threads = macs < kParallelMacs ? 1 : pool_.size();
    run(threads, (int)shrink_tasks_.size(), [&](int t) { shrink_task(t); });
    expand(threads);
  }

  void rmsnorm(const float* x, const float* w, float* out, int rows) override {
    if ((int64_t)rows * c_.dim < kParallelMacs) return CpuReferenceBackend::rmsnorm(x, w, out, rows);
    const int D = c_.dim;
    run(pool_.size(), rows, [&](int r) {
      const float* xr = x + (size_t)r * D;
      float ss = 0;
      for (int i = 0; i < D; ++i) ss += xr[i] * xr[i];
      const float inv = 1.0f / std::sqrt(ss / D + c_.rms_eps);
      for (int i = 0; i < D; ++i) out[(size_t)r * D + i] = xr[i] * inv * w[i];
    });
  }

  void swiglu(float* gate, const float* up) override {
    const int T = plan_->n_rows, H = c_.hidden;
    run((int64_t)T * H < kParallelMacs ? 1 : pool_.size(), T,
        [&](int r) { k_.swiglu(gate + (size_t)r * H, up + (size_t)r * H, (size_t)H); });
  }

  Status measure_compute(double seconds, int repeats, double* gflops) override {
    const int th = pool_.size();
    std::vector<float> sink((size_t)th * 16, 0.0f);
    // Size a pass from a short calibration run on this thread.
    long iters = 1 << 16;
    for (;;) {
      const auto t0 = std::chrono::steady_clock::now();
      sink[0] += k_.fma_probe(iters);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s > 0.01 || iters > (1L << 40)) {
        iters = std::max(1L, (long)(iters * seconds / s));
        break;
      }
      iters *= 4;
    }
    double best = 0;
    for (int k = 0; k < repeats; ++k) {
      const auto t0 = std::chrono::steady_clock::now();
      pool_.run(th, [&](int t) { sink[(size_t)t * 16] += k_.fma_probe(iters); });
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, (double)iters * kFmaProbeFlops * th / s);
    }
    volatile float keep = sink[0];  // the probes' results stay observable
    (void)keep;
    *gflops = best / 1e9;
    return Status::Ok();
  }

  Status measure_bandwidth(int64_t bytes, int repeats, double* gbps) override {
    const size_t n = (size_t)bytes / sizeof(float);
    float* buf = nullptr;
    QUIVER_TRY(alloc(n, &buf));
    const int th = pool_.size();
    const size_t per = (n / th + 15) / 16 * 16;
    std::vector<float> sink((size_t)th * 16, 0.0f);  // one cache line per thread
    auto pass = [&](int t) {
      const size_t b = std::min(n, (size_t)t * per), e = std::min(n, b + per);
      sink[(size_t)t * 16] += k_.sum(buf + b, e - b);
    };
    pool_.run(th, pass);  // touch the pages once
    double best = 0;
    for (int k = 0; k < repeats; ++k) {
      auto t0 = std::chrono::steady_clock::now();
      pool_.run(th, pass);
      best = std::max(best, (double)n * sizeof(float) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    release(buf);
    *gbps = best / 1e9;
    return Status::Ok();
  }

 private:
  // ---- GEMM: y = x @ W^T in tasks of output columns (packed W: whole panels per task)
  struct Gemm {
    const float* W;
    int in, out, rows, chunk, threads;
    bool accumulate, packed;
  } gemm_{};

  int prepare_matmul(const float* x, const float* W, float* y, int rows, int in, int out, bool accumulate) {
    mxr_.resize((size_t)rows);
    myr_.resize((size_t)rows);
    for (int r = 0; r < rows; ++r) {
      mxr_[r] = x + (size_t)r * in;
      myr_[r] = y + (size_t)r * out;
    }
    const int threads = (int64_t)rows * in * out < kParallelMacs ? 1 : pool_.size();
    const bool packed = packed_.count(W) > 0;
    // Enough tasks to balance the threads: each a multiple of 4 output rows of W, or of
    // 4 panels when packed (a decode row reads 4 panels at once).
    const int unit = packed ? 4 * kPanel : 4;
    int chunk = (out + threads * 4 - 1) / (threads * 4);
    chunk = std::max(packed ? unit : 16, (chunk + unit - 1) / unit * unit);
    gemm_ = Gemm{W, in, out, rows, chunk, threads, accumulate, packed};
    return (out + chunk - 1) / chunk;
  }

  void matmul_task(int t) {
    const int o0 = t * gemm_.chunk, o1 = std::min(gemm_.out, o0 + gemm_.chunk);
    if (gemm_.packed)
      k_.gemm_panels(gemm_.W, gemm_.in, gemm_.out, mxr_.data(), myr_.data(), gemm_.rows, o0 / kPanel,
                     panel_count(o1), gemm_.accumulate);
    else
      k_.dot_rows(gemm_.W, gemm_.in, mxr_.data(), myr_.data(), nullptr, gemm_.rows, o0, o1, gemm_.accumulate);
  }

  // ---- LoRA: entries (row, adapter) grouped by adapter (the plan sorted the segments)
  // Returns the multiply-adds of the deltas (0: nothing to do).
  int64_t prepare_lora(int layer, int module, const float* x, float* y, int in, int out) {
    groups_.clear();
    entries_.clear();
    size_t voff = 0;
    auto add_group = [&](const float* A, const float* Bb, int rank, Lanes lanes) {
      groups_.push_back(Group{A, Bb, rank, (int)entries_.size(), (int)entries_.size(), lanes});
    };
    auto add_entry = [&](int row, float scale) {
      Group& g = groups_.back();
      entries_.push_back(Entry{row, scale, voff});
      voff += (size_t)g.rank;
      g.end++;
    };
    if (plan_->dense) {
      // The paper's formulation: every row through every adapter of the batch.
      const int p = plan_->dense_p;
      const auto& ads = plan_->dense_lora[(size_t)layer * kModuleCount + module];
      for (int j = 0; j < p; ++j) {
        if (ads[j].rank == 0) continue;
        add_group(ads[j].A, ads[j].B, ads[j].rank, ads[j].lanes);
        for (int r = 0; r < plan_->n_rows; ++r) add_entry(r, plan_->dense_coef[(size_t)r * p + j] * ads[j].scale);
      }
    } else {
      for (const LoraSeg& sg : plan_->lora[(size_t)layer * kModuleCount + module]) {
        if (groups_.empty() || groups_.back().A != sg.A) add_group(sg.A, sg.B, sg.rank, sg.lanes);
        for (int r = sg.row0; r < sg.row1; ++r) add_entry(r, sg.scale);
      }
    }
    if (entries_.empty()) return 0;
    if (v_.size() < voff) v_.resize(voff);
    const size_t E = entries_.size();
    lxr_.resize(E);
    lvr_.resize(E);
    lyr_.resize(E);
    scales_.resize(E);
    for (size_t e = 0; e < E; ++e) {
      lxr_[e] = x + (size_t)entries_[e].row * in;
      lvr_[e] = v_.data() + entries_[e].voff;
      lyr_[e] = y + (size_t)entries_[e].row * out;
      scales_[e] = entries_[e].scale;
    }
    shrink_tasks_.clear();
    int64_t macs = 0;
    for (int g = 0; g < (int)groups_.size(); ++g) {
      macs += (int64_t)(groups_[g].end - groups_[g].begin) * groups_[g].rank * (in + out);
      for (int e = groups_[g].begin; e < groups_[g].end; e += kShrinkRows) shrink_tasks_.push_back({g, e});
    }
    lora_in_ = in;
    lora_out_ = out;
    // Each row's entries in group order (entries are stored group by group), for the
    // adapter-by-adapter expand.
    by_adapter_ = E <= (size_t)kStreamRowsPerAdapter * groups_.size();
    if (by_adapter_) {
      row_first_.assign((size_t)plan_->n_rows + 1, 0);
      for (const Entry& en : entries_) row_first_[(size_t)en.row + 1]++;
      for (int r = 0; r < plan_->n_rows; ++r) row_first_[(size_t)r + 1] += row_first_[(size_t)r];
      row_entries_.resize(E);
      fill_.assign(row_first_.begin(), row_first_.end() - 1);
      for (size_t e = 0; e < E; ++e) row_entries_[(size_t)fill_[(size_t)entries_[e].row]++] = (int)e;
      if (cbuf_.size() < E * (size_t)out) cbuf_.resize(E * (size_t)out);
      lcr_.resize(E);
      for (size_t e = 0; e < E; ++e) lcr_[e] = cbuf_.data() + e * (size_t)out;
    }
    return macs;
  }

  // Shrink (r <- in): v[e] = A_g @ x[row(e)] for a run of up to kShrinkRows entries of one group.
  void shrink_task(int t) {
    const Group& g = groups_[(size_t)shrink_tasks_[t].first];
    const int e0 = shrink_tasks_[t].second, n = std::min(kShrinkRows, g.end - e0);
    if (g.lanes == Lanes::kF32)
      k_.shrink_panels(g.A, g.rank, lora_in_, lxr_.data() + e0, lvr_.data() + e0, n);
    else
      k_.shrink_panels_half[(int)g.lanes - 1](reinterpret_cast<const uint16_t*>(g.A), g.rank, lora_in_, lxr_.data() + e0,
                                              lvr_.data() + e0, n);
  }

  // Expand (out <- r): y[row(e)] += scale(e) * B_g @ v[e], each row's adapters added in
  // group order whatever the thread count and whichever of the two ways runs:
  //  - adapter by adapter (few rows per adapter, decode): tasks are (adapter, part of its
  //    outputs), each reading its part of B as one stream into c[e] = B_g @ v[e]; then
  //    tasks by row add scale(e) * c[e] into y in group order;
  //  - output chunk by output chunk (many rows per adapter: prefill, dense): every group in
  //    order for the chunk's columns, each block of B reused by the group's rows in cache.
  void expand(int threads) {
    const int out = lora_out_;
    if (by_adapter_) {
      const int G = (int)groups_.size(), blocks = expand_block_count(out);
      const int parts = std::min(blocks, std::max(1, (2 * threads + G - 1) / G));
      run(threads, G * parts, [&](int t) {
        const Group& g = groups_[(size_t)(t / parts)];
        const int p = t % parts;
        const int o0 = blocks * p / parts * kExpandBlock, o1 = std::min(out, blocks * (p + 1) / parts * kExpandBlock);
        expand_blocks(g, lvr_.data() + g.begin, lcr_.data() + g.begin, nullptr, g.end - g.begin, o0, o1);
      });
      run(threads, plan_->n_rows, [&](int r) {
        for (int i = row_first_[(size_t)r]; i < row_first_[(size_t)r + 1]; ++i) {
          const int e = row_entries_[(size_t)i];
          k_.add_scaled(lyr_[(size_t)e], lcr_[(size_t)e], scales_[(size_t)e], (size_t)out);
        }
      });
      return;
    }
    const int chunks = (out + kExpandChunk - 1) / kExpandChunk;
    run(threads, chunks, [&](int t) {
      const int o0 = t * kExpandChunk, o1 = std::min(out, o0 + kExpandChunk);
      for (const Group& g : groups_)
        expand_blocks(g, lvr_.data() + g.begin, lyr_.data() + g.begin, scales_.data() + g.begin,
                         g.end - g.begin, o0, o1);
    });
  }

  struct Group {
    const float* A;   // shrink panels (cpu_kernels.h)
    const float* Bb;  // expand blocks (cpu_kernels.h)
    int rank;
    int begin, end;   // entries
    Lanes lanes;      // of A and Bb
  };

  void expand_blocks(const Group& g, const float* const* vr, float* const* yr, const float* alpha, int R, int o0, int o1) {
    if (g.lanes == Lanes::kF32)
      k_.expand_blocks(g.Bb, g.rank, vr, yr, alpha, R, o0, o1);
    else
      k_.expand_blocks_half[(int)g.lanes - 1](reinterpret_cast<const uint16_t*>(g.Bb), g.rank, vr, yr, alpha, R, o0, o1);
  }
  struct Entry {
    int row;
    float scale;
    size_t voff;      // offset of v[e] (rank floats) in v_
  };

  template <typename F>
  void run(int threads, int tasks, const F& body) {
    if (threads <= 1) {
      for (int t = 0; t < tasks; ++t) body(t);
      return;
    }
    pool_.run(tasks, body);
  }

  ThreadPool pool_;
  const CpuKernels& k_;
  std::unordered_set<const float*> packed_;  // weights laid out by pack_weight
  std::vector<const float*> mxr_, lxr_;  // GEMM rows, LoRA entries' input rows
  std::vector<float*> myr_, lyr_, lvr_;
  int lora_in_ = 0, lora_out_ = 0;
  std::vector<float> v_, scales_;
  // The adapter-by-adapter expand: c[e] (out floats each) and each row's entries in group
  // order (row_entries_[row_first_[r] .. row_first_[r + 1])).
  bool by_adapter_ = false;
  std::vector<float> cbuf_;
  std::vector<float*> lcr_;
  std::vector<int> row_first_, row_entries_, fill_;
  std::vector<Group> groups_;
  std::vector<Entry> entries_;
  std::vector<std::pair<int, int>> shrink_tasks_;
};

std::unique_ptr<Backend> backend_cpu_fast(int threads, bool generic) {
  return std::unique_ptr<Backend>(new CpuFastBackend(threads, generic));
}
std::unique_ptr<Backend> backend_cpu_reference() { return std::unique_ptr<Backend>(new CpuReferenceBackend()); }

}  // namespace quiver
