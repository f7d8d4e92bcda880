// The forward pass (see forward.h). Reads top to bottom like the model:
// embed -> n_layers x (attention block, feed-forward block) -> norm -> lm_head.
#include "forward.h"

#include <initializer_list>
#include <utility>

namespace quiver {

ForwardPass::~ForwardPass() {
  for (float* p : {x_, xb_, q_, k_, v_, att_, gate_, up_, last_, lastn_, logits_})
    if (p) be_->release(p);
}

// Grows each group of buffers to its capacity, all or nothing: a group's old buffers go
// first (so that the new ones fit where memory is tight) and, when an allocation fails, every
// buffer of the group is released and its capacity drops to zero. The next step then
// allocates again instead of running on freed buffers.
Status ForwardPass::reserve(int rows, int seqs) {
  auto grow = [&](std::initializer_list<std::pair<float**, size_t>> bufs, int want, int* cap) -> Status {
    if (want <= *cap) return Status::Ok();
    for (const auto& b : bufs) {
      if (*b.first) be_->release(*b.first);
      *b.first = nullptr;
    }
    *cap = 0;
    for (const auto& b : bufs) {
      Status st = be_->alloc((size_t)want * b.second, b.first);
      if (!st.ok()) {
        for (const auto& r : bufs) {
          if (*r.first) be_->release(*r.first);
          *r.first = nullptr;
        }
        return st;
      }
    }
    *cap = want;
    return Status::Ok();
  };
  const size_t D = (size_t)c_.dim, Q = (size_t)c_.q_dim(), KV = (size_t)c_.kv_dim(), H = (size_t)c_.hidden;
  QUIVER_TRY(grow({{&x_, D}, {&xb_, D}, {&q_, Q}, {&k_, KV}, {&v_, KV}, {&att_, Q}, {&gate_, H}, {&up_, H}}, rows, &cap_rows_));
  return grow({{&last_, D}, {&lastn_, D}, {&logits_, (size_t)c_.vocab_size}}, seqs, &cap_seqs_);
}

Status ForwardPass::run(const StepPlan& plan, float* logits) {
  const int T = plan.n_rows, S = plan.n_seqs;
  const int D = c_.dim, Q = c_.q_dim(), KV = c_.kv_dim(), H = c_.hidden;
  // Grow to the next power of two so a batch that grows row by row reallocates rarely.
  int want_rows = cap_rows_ ? cap_rows_ : 1, want_seqs = cap_seqs_ ? cap_seqs_ : 1;
  while (want_rows < T) want_rows *= 2;
  while (want_seqs < S) want_seqs *= 2;
  QUIVER_TRY(reserve(want_rows, want_seqs));
  QUIVER_TRY(be_->begin_step(c_, plan));

  be_->embed(w_.embed, x_);
  for (int l = 0; l < c_.n_layers; ++l) {
    const LayerWeights& L = w_.layers[l];

    // ---- attention block: x += o_proj(attention(rope(q), rope(k), v)) ----
    be_->rmsnorm(x_, L.attn_norm, xb_, T);
    be_->projection(l, kQ, xb_, L.wq, q_, T, D, Q, false);
    be_->projection(l, kK, xb_, L.wk, k_, T, D, KV, false);
    be_->projection(l, kV, xb_, L.wv, v_, T, D, KV, false);
    be_->rope(q_, k_);
    be_->kv_store(l, k_, v_);
    be_->attention(l, q_, att_);
    be_->projection(l, kO, att_, L.wo, x_, T, Q, D, true);

    // ---- feed-forward block: x += down(silu(gate(x)) * up(x)) ----
    be_->rmsnorm(x_, L.ffn_norm, xb_, T);
    be_->projection(l, kGate, xb_, L.w_gate, gate_, T, D, H, false);
    be_->projection(l, kUp, xb_, L.w_up, up_, T, D, H, false);
    be_->swiglu(gate_, up_);
    be_->projection(l, kDown, gate_, L.w_down, x_, T, H, D, true);
  }

  // ---- logits for the last row of each sequence only ----
  be_->gather_last(x_, last_);
  be_->rmsnorm(last_, w_.final_norm, lastn_, S);
  be_->matmul(lastn_, w_.lm_head, logits_, S, D, c_.vocab_size, false);
  QUIVER_TRY(be_->end_step());
  return be_->download(logits, logits_, (size_t)S * c_.vocab_size);
}

}  // namespace quiver
