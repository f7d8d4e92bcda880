// The forward pass (see forward.h). Reads top to bottom like the model:
// embed -> n_layers x (attention block, feed-forward block) -> norm -> lm_head.
#include "forward.h"

namespace quiver {

ForwardPass::~ForwardPass() {
  for (float* p : {x_, xb_, q_, k_, v_, att_, gate_, up_, last_, lastn_, logits_})
    if (p) be_->release(p);
}

Status ForwardPass::reserve(int rows, int seqs) {
  if (rows > cap_rows_) {
    for (float** p : {&x_, &xb_, &q_, &k_, &v_, &att_, &gate_, &up_}) {
      if (*p) be_->release(*p);
      *p = nullptr;
    }
    const size_t T = (size_t)rows;
    QUIVER_TRY(be_->alloc(T * c_.dim, &x_));
    QUIVER_TRY(be_->alloc(T * c_.dim, &xb_));
    QUIVER_TRY(be_->alloc(T * c_.q_dim(), &q_));
    QUIVER_TRY(be_->alloc(T * c_.kv_dim(), &k_));
    QUIVER_TRY(be_->alloc(T * c_.kv_dim(), &v_));
    QUIVER_TRY(be_->alloc(T * c_.q_dim(), &att_));
    QUIVER_TRY(be_->alloc(T * c_.hidden, &gate_));
    QUIVER_TRY(be_->alloc(T * c_.hidden, &up_));
    cap_rows_ = rows;
  }
  if (seqs > cap_seqs_) {
    for (float** p : {&last_, &lastn_, &logits_}) {
      if (*p) be_->release(*p);
      *p = nullptr;
    }
    QUIVER_TRY(be_->alloc((size_t)seqs * c_.dim, &last_));
    QUIVER_TRY(be_->alloc((size_t)seqs * c_.dim, &lastn_));
    QUIVER_TRY(be_->alloc((size_t)seqs * c_.vocab_size, &logits_));
    cap_seqs_ = seqs;
  }
  return Status::Ok();
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
