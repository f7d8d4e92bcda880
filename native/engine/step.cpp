// One step of continuous batching, and the generation loop built on it (see engine.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine.h"

namespace quiver {

namespace {
constexpr int kMaxStepTokens = 16384;
constexpr int kMaxAdaptersPerItem = 16;

void set_result(quiver_step_result* r, const Status& s) {
  r->status = s.code;
  r->token = -1;
  std::snprintf(r->message, sizeof r->message, "%s", s.message.c_str());
}

bool uses_adapters(const quiver_step_item& it) { return it.strategy != QUIVER_STRATEGY_NONE && it.n_adapters > 0; }
bool is_fusion(const quiver_step_item& it) {
  return uses_adapters(it) && (it.strategy == QUIVER_STRATEGY_FUSION || it.strategy == QUIVER_STRATEGY_FUSION_CAT);
}
// The adapters an item reads from the slots: SELECTION the first of its list (the retriever's
// top-1), MIXTURE all of them. FUSION reads only their host copies, to build the sequence's
// fused adapter, so it takes no slot.
int adapters_used(const quiver_step_item& it) {
  if (!uses_adapters(it) || is_fusion(it)) return 0;
  return it.strategy == QUIVER_STRATEGY_SELECTION ? 1 : it.n_adapters;
}
}  // namespace

Status Engine::validate_item(const quiver_step_item& it, std::vector<int>* seen) {
  auto sit = seqs_.find(it.seq_id);
  if (sit == seqs_.end()) return Error(QUIVER_ERR_NOT_FOUND, "sequence %d does not exist", it.seq_id);
  if (cancelled(it.seq_id)) return Error(QUIVER_ERR_CANCELLED, "sequence %d was cancelled", it.seq_id);
  if (std::find(seen->begin(), seen->end(), it.seq_id) != seen->end())
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "sequence %d appears twice in one step", it.seq_id);
  seen->push_back(it.seq_id);
  if (it.n_tokens < 1 || !it.tokens) return Error(QUIVER_ERR_INVALID_ARGUMENT, "an item needs at least one token");
  if (it.n_tokens > kMaxStepTokens)
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "%d tokens in one item; split prefill into chunks of at most %d", it.n_tokens, kMaxStepTokens);
  const int vocab = host_.config.vocab_size;
  for (int i = 0; i < it.n_tokens; ++i)
    if (it.tokens[i] < 0 || it.tokens[i] >= vocab)
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "token %d is outside the vocabulary (0..%d)", it.tokens[i], vocab - 1);
  const Sequence& s = *sit->second;
  if ((int64_t)s.len + it.n_tokens > max_context_)
    return Error(QUIVER_ERR_CONTEXT_OVERFLOW, "sequence %d holds %d tokens; %d more would pass the context length %d",
                 it.seq_id, s.len, it.n_tokens, max_context_);
  if (it.strategy < QUIVER_STRATEGY_NONE || it.strategy > QUIVER_STRATEGY_SELECTION)
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "unknown strategy %d", (int)it.strategy);
  if (it.n_adapters < 0 || it.n_adapters > kMaxAdaptersPerItem || (it.n_adapters > 0 && !it.adapters))
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "an item maps 0..%d adapters", kMaxAdaptersPerItem);
  for (int j = 0; j < it.n_adapters; ++j) {
    if (!adapters_.count(it.adapters[j].adapter_id))
      return Error(QUIVER_ERR_NOT_FOUND, "adapter %d is not registered", it.adapters[j].adapter_id);
    if (!std::isfinite(it.adapters[j].weight))
      return Error(QUIVER_ERR_INVALID_ARGUMENT, "adapter %d has a non-finite weight", it.adapters[j].adapter_id);
    for (int k = 0; k < j; ++k)
      if (it.adapters[k].adapter_id == it.adapters[j].adapter_id)
        return Error(QUIVER_ERR_INVALID_ARGUMENT, "adapter %d appears twice in one mapping", it.adapters[j].adapter_id);
  }
  return Status::Ok();
}

void Engine::build_plan(const quiver_step_item* items, const std::vector<Chunk>& chunks, quiver_lora_kernel kernel) {
  StepPlan& p = plan_;
  p.n_seqs = (int)chunks.size();
  p.tokens.clear(); p.pos.clear(); p.row_seq.clear(); p.seq_row0.clear(); p.seq_rows.clear();
  p.kv.clear(); p.kv_cap.clear();
  p.dense = kernel == QUIVER_LORA_DENSE;
  for (auto& v : p.lora) v.clear();

  // Each sample's effective list of (adapter, weight).
  std::vector<std::vector<std::pair<const DeviceAdapter*, float>>> eff(chunks.size());
  for (size_t s = 0; s < chunks.size(); ++s) {
    const quiver_step_item& it = items[chunks[s].item];
    Sequence* seq = seqs_[it.seq_id].get();
    p.seq_row0.push_back((int)p.tokens.size());
    p.seq_rows.push_back(chunks[s].n);
    p.kv.push_back(seq->kv);
    p.kv_cap.push_back(seq->cap);
    for (int i = 0; i < chunks[s].n; ++i) {
      p.tokens.push_back(it.tokens[chunks[s].off + i]);
      p.pos.push_back(seq->len + i);
      p.row_seq.push_back((int)s);
    }
    if (is_fusion(it)) {
      eff[s].push_back({&seq->fused, 1.0f});
    } else {
      const int n = adapters_used(it);
      for (int j = 0; j < n; ++j)
        eff[s].push_back({&adapters_[it.adapters[j].adapter_id]->dev,
                          it.strategy == QUIVER_STRATEGY_SELECTION ? 1.0f : it.adapters[j].weight});
    }
  }
  p.n_rows = (int)p.tokens.size();

  if (!p.dense) {
    for (size_t s = 0; s < chunks.size(); ++s) {
      const int row0 = p.seq_row0[s], row1 = row0 + p.seq_rows[s];
      for (const auto& aw : eff[s])
        for (size_t lm = 0; lm < p.lora.size(); ++lm) {
          const DeviceAdapter::Mod& m = aw.first->modules[lm];
          if (m.rank) p.lora[lm].push_back(LoraSeg{row0, row1, m.rank, aw.second * m.scale, m.A, m.B, m.lanes, aw.first->order});
        }
    }
    // Segments of one adapter side by side, so a kernel reads each adapter once per step,
    // in an order that does not depend on addresses (LoraSeg::order).
    for (auto& v : p.lora)
      std::stable_sort(v.begin(), v.end(), [](const LoraSeg& a, const LoraSeg& b) { return a.order < b.order; });
    return;
  }
  // Dense: the union of the batch's adapters, and the (T, p) mapping matrix.
  std::vector<const DeviceAdapter*> uni;
  for (const auto& list : eff)
    for (const auto& aw : list)
      if (std::find(uni.begin(), uni.end(), aw.first) == uni.end()) uni.push_back(aw.first);
  const int np = (int)uni.size();
  p.dense_p = np;
  p.dense_coef.assign((size_t)p.n_rows * np, 0.0f);
  for (size_t s = 0; s < chunks.size(); ++s)
    for (const auto& aw : eff[s]) {
      const int j = (int)(std::find(uni.begin(), uni.end(), aw.first) - uni.begin());
      for (int r = p.seq_row0[s]; r < p.seq_row0[s] + p.seq_rows[s]; ++r) p.dense_coef[(size_t)r * np + j] += aw.second;
    }
  for (size_t lm = 0; lm < p.dense_lora.size(); ++lm) {
    p.dense_lora[lm].resize((size_t)np);
    for (int j = 0; j < np; ++j) {
      const DeviceAdapter::Mod& m = uni[(size_t)j]->modules[lm];
      p.dense_lora[lm][(size_t)j] = DenseLora{m.rank, m.scale, m.A, m.B, m.lanes};
    }
  }
}

// FUSION: the sample's fused adapter, rebuilt only when its mapping changes, within the
// budget all sequences' fused adapters share (EngineOptions::max_fused_bytes).
Status Engine::ensure_fused(const quiver_step_item& it, Sequence* seq) {
  std::string key = std::to_string((int)it.strategy);
  for (int j = 0; j < it.n_adapters; ++j) {
    char buf[64];
    std::snprintf(buf, sizeof buf, ":%d=%a", it.adapters[j].adapter_id, it.adapters[j].weight);
    key += buf;
  }
  if (key == seq->fused_key) return Status::Ok();
  std::vector<const HostAdapter*> parts;
  std::vector<float> weights;
  for (int j = 0; j < it.n_adapters; ++j) {
    parts.push_back(&adapters_[it.adapters[j].adapter_id]->host);
    weights.push_back(it.adapters[j].weight);
  }
  const bool cat = it.strategy == QUIVER_STRATEGY_FUSION_CAT;
  const int64_t need = host_adapter_fused_bytes(parts, cat, host_.config);
  const int64_t budget = opt_.max_fused_bytes;
  if (need > budget)
    return Error(QUIVER_ERR_SIZE_LIMIT, "this mapping's fused adapter needs %lld bytes, above the engine's maxFusedBytes %lld",
                 (long long)need, (long long)budget);
  const int64_t others = fused_bytes_ - seq->fused_bytes;
  if (others + need > budget)
    return Error(QUIVER_ERR_NO_FREE_SLOT,
                 "this mapping's fused adapter needs %lld bytes; other sequences' fused adapters hold %lld of the engine's "
                 "maxFusedBytes %lld (retry when they finish)",
                 (long long)need, (long long)others, (long long)budget);
  release_fused(seq);
  host_adapter_fuse(parts, weights, cat, host_.config, &seq->fused_host);
  Status st = upload_adapter(seq->fused_host, &seq->fused);
  if (!st.ok()) {
    seq->fused_host = HostAdapter();
    return st;
  }
  seq->fused_key = key;
  seq->fused_bytes = need;
  fused_bytes_ += need;
  return Status::Ok();
}

void Engine::release_fused(Sequence* seq) {
  release_adapter(&seq->fused);
  seq->fused_host = HostAdapter();
  seq->fused_key.clear();
  fused_bytes_ -= seq->fused_bytes;
  seq->fused_bytes = 0;
}

Status Engine::step(const quiver_step_item* items, int n, quiver_lora_kernel kernel, quiver_step_result* results,
                    float* logits) {
  if (n < 0 || (n > 0 && (!items || !results))) return Error(QUIVER_ERR_INVALID_ARGUMENT, "step needs items and results");
  if (kernel != QUIVER_LORA_GATHER && kernel != QUIVER_LORA_DENSE) return Error(QUIVER_ERR_INVALID_ARGUMENT, "unknown LoRA kernel");
  ++tick_;
  step_passes_ = step_max_rows_ = 0;
  std::vector<int> seen, live;
  for (int i = 0; i < n; ++i) {
    Status st = validate_item(items[i], &seen);
    set_result(&results[i], st);
    if (st.ok()) live.push_back(i);
  }

  // Residency: the adapters of this step are pinned; others may be evicted.
  std::set<int> pinned;
  for (int i : live)
    for (int j = 0; j < adapters_used(items[i]); ++j) pinned.insert(items[i].adapters[j].adapter_id);
  std::vector<int> ready;
  for (int i : live) {
    Status st;
    for (int j = 0; j < adapters_used(items[i]) && st.ok(); ++j)
      st = make_resident(adapters_[items[i].adapters[j].adapter_id].get(), pinned);
    if (st.ok() && is_fusion(items[i])) st = ensure_fused(items[i], seqs_[items[i].seq_id].get());
    if (st.ok()) st = ensure_kv(seqs_[items[i].seq_id].get(), seqs_[items[i].seq_id]->len + items[i].n_tokens);
    set_result(&results[i], st);
    if (st.ok()) ready.push_back(i);
  }
  if (ready.empty()) return Status::Ok();

  // Forward passes of at most max_step_tokens rows: the items in order, each pass filled
  // with what fits (a prefill longer than the room left goes on in the next pass, from the
  // cache the earlier one wrote). An item's logits and token come from the pass that holds its
  // last token. When a pass fails, the items it had not finished keep no tokens (their
  // sequences go back to their lengths before the step) and fail with its status; the step
  // fails as a whole only when nothing finished.
  const int vocab = host_.config.vocab_size;
  const int budget = opt_.max_step_tokens;
  std::vector<int> done(ready.size(), 0), len0(ready.size());
  for (size_t k = 0; k < ready.size(); ++k) len0[k] = seqs_[items[ready[k]].seq_id]->len;
  std::vector<Chunk> chunks;
  std::vector<size_t> chunk_of;  // the index into ready of each chunk
  size_t first = 0, finished = 0;
  while (first < ready.size()) {
    chunks.clear();
    chunk_of.clear();
    int rows = 0;
    for (size_t k = first; k < ready.size() && rows < budget; ++k) {
      const int left = items[ready[k]].n_tokens - done[k];
      if (left == 0) continue;
      const int take = std::min(left, budget - rows);
      chunks.push_back(Chunk{ready[k], done[k], take});
      chunk_of.push_back(k);
      rows += take;
    }
    build_plan(items, chunks, kernel);
    ++step_passes_;
    step_max_rows_ = std::max(step_max_rows_, plan_.n_rows);
    logits_.resize(chunks.size() * (size_t)vocab);
    Status st = fwd_->run(plan_, logits_.data());
    if (!st.ok()) {
      for (size_t k = 0; k < ready.size(); ++k) {
        if (done[k] == items[ready[k]].n_tokens) continue;
        seqs_[items[ready[k]].seq_id]->len = len0[k];
        set_result(&results[ready[k]], st);
      }
      return finished == 0 ? st : Status::Ok();
    }
    for (size_t c = 0; c < chunks.size(); ++c) {
      const size_t k = chunk_of[c];
      const int i = ready[k];
      Sequence* seq = seqs_[items[i].seq_id].get();
      seq->len += chunks[c].n;
      done[k] += chunks[c].n;
      if (done[k] < items[i].n_tokens) continue;
      ++finished;
      const float* row = logits_.data() + c * vocab;
      if (logits) std::memcpy(logits + (size_t)i * vocab, row, sizeof(float) * vocab);
      if (items[i].sample) {
        int token = -1;
        Status sampled = seq->sampler.sample(row, vocab, &token);
        if (sampled.ok()) results[i].token = token;
        else set_result(&results[i], WithContext(sampled, "sequence " + std::to_string(seq->id) + ": "));
      }
      for (int j = 0; j < adapters_used(items[i]); ++j) adapters_[items[i].adapters[j].adapter_id]->last_used = tick_;
    }
    while (first < ready.size() && done[first] == items[ready[first]].n_tokens) ++first;
  }
  return Status::Ok();
}

Status Engine::generate(int seq_id, const quiver_generate_request& req, quiver_token_callback cb, void* user,
                        int32_t* out_tokens, int32_t* out_n, quiver_finish_reason* reason) {
  *out_n = 0;
  if (!seqs_.count(seq_id)) return Error(QUIVER_ERR_NOT_FOUND, "sequence %d does not exist", seq_id);
  if (req.n_prompt < 1 || !req.prompt)
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "generate needs at least one prompt token (start from BOS for an empty prompt)");
  if (req.max_tokens < 0 || (req.max_tokens > 0 && !out_tokens) || req.n_stop < 0 || (req.n_stop > 0 && !req.stop_tokens))
    return Error(QUIVER_ERR_INVALID_ARGUMENT, "generate needs max_tokens >= 0 and a buffer for them");
  const int chunk = req.prefill_chunk > 0 ? req.prefill_chunk : 256;
  quiver_step_item item{};
  item.seq_id = seq_id;
  item.strategy = req.strategy;
  item.adapters = req.adapters;
  item.n_adapters = req.n_adapters;
  quiver_step_result res{};

  // Runs `item` alone; CANCELLED ends the generation quietly.
  auto run = [&](const int32_t* toks, int n, bool sample, bool* stopped) -> Status {
    item.tokens = toks;
    item.n_tokens = n;
    item.sample = sample;
    QUIVER_TRY(step(&item, 1, QUIVER_LORA_GATHER, &res, nullptr));
    *stopped = res.status == QUIVER_ERR_CANCELLED;
    if (res.status != QUIVER_OK && !*stopped) return Status{res.status, res.message};
    return Status::Ok();
  };

  bool stopped = false;
  for (int off = 0; off < req.n_prompt && !stopped; off += chunk) {
    const int n = std::min(chunk, req.n_prompt - off);
    QUIVER_TRY(run(req.prompt + off, n, off + n == req.n_prompt, &stopped));
  }
  int32_t token = res.token;
  const Sequence* seq = seqs_[seq_id].get();
  for (;;) {
    if (stopped || cancelled(seq_id)) { *reason = QUIVER_FINISH_CANCELLED; break; }
    if (std::find(req.stop_tokens, req.stop_tokens + req.n_stop, token) != req.stop_tokens + req.n_stop) {
      *reason = QUIVER_FINISH_STOP;
      break;
    }
    if (*out_n >= req.max_tokens) { *reason = QUIVER_FINISH_LENGTH; break; }
    out_tokens[(*out_n)++] = token;
    if (cb) cb(user, token);
    if (*out_n >= req.max_tokens) { *reason = QUIVER_FINISH_LENGTH; break; }
    if (seq->len >= max_context_) { *reason = QUIVER_FINISH_CONTEXT; break; }
    QUIVER_TRY(run(&token, 1, true, &stopped));
    token = res.token;
  }
  return Status::Ok();
}

}  // namespace quiver
