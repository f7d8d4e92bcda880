// The C API (include/quiver.h) over quiver::Engine: copies statuses into quiver_error and
// catches every exception, so nothing throws across the boundary.
#include <cstring>
#include <new>

#include "../include/quiver.h"
#include "../backends/cublas.h"
#include "engine.h"
#include "../train/trainer.h"

struct quiver_engine {
  quiver::Engine impl;
};

struct quiver_trainer {
  std::unique_ptr<quiver::Trainer> impl;
};

struct quiver_adapter_staged {
  quiver::StagedAdapter impl;
};

namespace {

quiver_status fill(quiver_error* err, const quiver::Status& s) {
  if (err) {
    err->status = s.code;
    std::snprintf(err->message, sizeof err->message, "%s", s.message.c_str());
  }
  return s.code;
}

// Runs f() -> Status, turning exceptions into OUT_OF_MEMORY / INTERNAL.
template <typename F>
quiver_status guarded(quiver_error* err, F&& f) {
  try {
    return fill(err, f());
  } catch (const std::bad_alloc&) {
    return fill(err, quiver::Error(QUIVER_ERR_OUT_OF_MEMORY, "out of memory"));
  } catch (const std::exception& e) {
    return fill(err, quiver::Error(QUIVER_ERR_INTERNAL, "internal error: %s", e.what()));
  } catch (...) {
    return fill(err, quiver::Error(QUIVER_ERR_INTERNAL, "internal error"));
  }
}

quiver::Status null_arg(const char* what) {
  return quiver::Error(QUIVER_ERR_INVALID_ARGUMENT, "%s must not be NULL", what);
}


template <typename F>
quiver_status train_call(quiver_trainer* trainer, const quiver_train_batch* b, quiver_train_stats* out, quiver_error* err,
                         F&& f) {
  return guarded(err, [&]() -> quiver::Status {
    if (!trainer || !b || !out) return null_arg("trainer, batch and out");
    quiver::TrainBatch tb{b->tokens, b->targets, b->batch, b->seq_len, b->lora_weight == 0 ? 1.0f : b->lora_weight};
    quiver::StepStats st;
    QUIVER_TRY(f(tb, &st));
    out->loss = st.loss;
    out->targets = st.targets;
    out->grad_norm = st.grad_norm;
    out->step = trainer->impl->steps();
    return quiver::Status::Ok();
  });
}
}  // namespace

extern "C" {

const char* quiver_status_name(quiver_status s) {
  switch (s) {
    case QUIVER_OK: return "OK";
    case QUIVER_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case QUIVER_ERR_FILE_MISSING: return "FILE_MISSING";
    case QUIVER_ERR_FILE_CORRUPT: return "FILE_CORRUPT";
    case QUIVER_ERR_UNSUPPORTED: return "UNSUPPORTED";
    case QUIVER_ERR_SHAPE_MISMATCH: return "SHAPE_MISMATCH";
    case QUIVER_ERR_DTYPE: return "DTYPE";
    case QUIVER_ERR_NON_FINITE: return "NON_FINITE";
    case QUIVER_ERR_RANK_LIMIT: return "RANK_LIMIT";
    case QUIVER_ERR_SIZE_LIMIT: return "SIZE_LIMIT";
    case QUIVER_ERR_BASE_MISMATCH: return "BASE_MISMATCH";
    case QUIVER_ERR_CONTEXT_OVERFLOW: return "CONTEXT_OVERFLOW";
    case QUIVER_ERR_NO_FREE_SLOT: return "NO_FREE_SLOT";
    case QUIVER_ERR_NOT_FOUND: return "NOT_FOUND";
    case QUIVER_ERR_CANCELLED: return "CANCELLED";
    case QUIVER_ERR_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case QUIVER_ERR_DEVICE: return "DEVICE";
    case QUIVER_ERR_INTERNAL: return "INTERNAL";
  }
  return "UNKNOWN";
}

quiver_status quiver_engine_init(const quiver_engine_options* o, quiver_engine** out, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!o || !out || !o->model_dir) return null_arg("options, model_dir and out");
    *out = nullptr;
    quiver::EngineOptions eo;
    eo.model_dir = o->model_dir;
    eo.device = o->device;
    eo.threads = o->threads;
    eo.adapter_slots = o->adapter_slots;
    if (o->max_rank > 0) eo.limits.max_rank = o->max_rank;
    if (o->max_adapter_bytes > 0) eo.limits.max_bytes = o->max_adapter_bytes;
    eo.max_context = o->max_context;
    eo.cpu_generic = o->cpu_generic != 0;
    eo.cublas = o->cublas ? o->cublas : "";
    if (o->max_fused_bytes > 0) eo.max_fused_bytes = o->max_fused_bytes;
    if (o->max_step_tokens > 0) eo.max_step_tokens = o->max_step_tokens;
    eo.test_faults = o->test_faults != 0;
    if (o->threads < 0 || o->adapter_slots < 0 || o->max_context < 0 || o->adapter_slots > 4096 || o->max_fused_bytes < 0 ||
        o->max_step_tokens < 0 || o->max_step_tokens > (1 << 20))
      return quiver::Error(QUIVER_ERR_INVALID_ARGUMENT,
                           "threads, adapter_slots (at most 4096), max_context, max_step_tokens (at most 2^20) and "
                           "max_fused_bytes must be >= 0");
    quiver_engine* e = new quiver_engine();
    quiver::Status s = e->impl.init(eo);
    if (!s.ok()) {
      delete e;
      return s;
    }
    *out = e;
    return s;
  });
}

void quiver_engine_free(quiver_engine* e) {
  try {
    delete e;
  } catch (...) {
  }
}

quiver_status quiver_engine_info_get(const quiver_engine* e, quiver_engine_info* out) {
  if (!e || !out) return QUIVER_ERR_INVALID_ARGUMENT;
  e->impl.info(out);
  return QUIVER_OK;
}

quiver_status quiver_adapter_init(quiver_engine* e, const char* dir, int32_t* out_id, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !dir || !out_id) return null_arg("engine, adapter_dir and out_id");
    int id = 0;
    QUIVER_TRY(e->impl.adapter_load(dir, &id));
    *out_id = id;
    return quiver::Status::Ok();
  });
}

quiver_status quiver_adapter_read(const quiver_engine* e, const char* dir, int32_t prepare, quiver_adapter_staged** out,
                                  quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !dir || !out) return null_arg("engine, adapter_dir and out");
    std::unique_ptr<quiver_adapter_staged> s(new quiver_adapter_staged());
    QUIVER_TRY(e->impl.adapter_read(dir, prepare != 0, &s->impl));
    *out = s.release();
    return quiver::Status::Ok();
  });
}

quiver_status quiver_adapter_add(quiver_engine* e, quiver_adapter_staged* staged, int32_t* out_id, quiver_error* err) {
  std::unique_ptr<quiver_adapter_staged> s(staged);
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !s || !out_id) {
      if (e && s) e->impl.adapter_discard(&s->impl);
      return null_arg("engine, staged and out_id");
    }
    int id = 0;
    QUIVER_TRY(e->impl.adapter_add(std::move(s->impl), &id));
    *out_id = id;
    return quiver::Status::Ok();
  });
}

void quiver_adapter_staged_free(quiver_engine* e, quiver_adapter_staged* staged) {
  try {
    if (e && staged) e->impl.adapter_discard(&staged->impl);
    delete staged;
  } catch (...) {
  }
}

quiver_status quiver_adapter_free(quiver_engine* e, int32_t id, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e) return null_arg("engine");
    return e->impl.adapter_free(id);
  });
}

quiver_status quiver_adapter_info_get(const quiver_engine* e, int32_t id, quiver_adapter_info* out, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !out) return null_arg("engine and out");
    return e->impl.adapter_info(id, out);
  });
}

quiver_status quiver_sequence_init(quiver_engine* e, const quiver_sampling* s, int32_t* out_id, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !out_id) return null_arg("engine and out_id");
    quiver_sampling greedy{0, 0, 1, 0};
    int id = 0;
    QUIVER_TRY(e->impl.sequence_init(s ? *s : greedy, &id));
    *out_id = id;
    return quiver::Status::Ok();
  });
}

quiver_status quiver_sequence_free(quiver_engine* e, int32_t id, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e) return null_arg("engine");
    return e->impl.sequence_free(id);
  });
}

void quiver_sequence_cancel(quiver_engine* e, int32_t id) {
  if (!e) return;
  try {
    e->impl.sequence_cancel(id);
  } catch (...) {
  }
}

quiver_status quiver_sequence_length(const quiver_engine* e, int32_t id, int32_t* out, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !out) return null_arg("engine and out");
    int n = 0;
    QUIVER_TRY(e->impl.sequence_length(id, &n));
    *out = n;
    return quiver::Status::Ok();
  });
}

quiver_status quiver_engine_step(quiver_engine* e, const quiver_step_item* items, int32_t n, quiver_lora_kernel kernel,
                                 quiver_step_result* results, float* logits, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e) return null_arg("engine");
    return e->impl.step(items, n, kernel, results, logits);
  });
}

quiver_status quiver_engine_generate(quiver_engine* e, int32_t seq_id, const quiver_generate_request* req,
                                     quiver_token_callback cb, void* user, int32_t* out_tokens, int32_t* out_n,
                                     quiver_finish_reason* reason, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !req || !out_n || !reason) return null_arg("engine, request, out_n and out_reason");
    return e->impl.generate(seq_id, *req, cb, user, out_tokens, out_n, reason);
  });
}

quiver_status quiver_engine_measure_bandwidth(quiver_engine* e, int64_t bytes, int32_t repeats, double* out, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !out) return null_arg("engine and out");
    return e->impl.measure_bandwidth(bytes, repeats, out);
  });
}

quiver_status quiver_engine_measure_compute(quiver_engine* e, double seconds, int32_t repeats, double* out, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !out) return null_arg("engine and out");
    return e->impl.measure_compute(seconds, repeats, out);
  });
}

quiver_status quiver_engine_test_faults(quiver_engine* e, const quiver_test_faults* f, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !f) return null_arg("engine and faults");
    quiver::FaultPlan plan;
    plan.fail_alloc = f->fail_alloc;
    plan.fail_upload = f->fail_upload;
    plan.logit_index = f->logit_index;
    plan.logit_value = f->logit_value;
    return e->impl.test_faults(plan);
  });
}

quiver_status quiver_engine_test_state_get(const quiver_engine* e, quiver_engine_test_state* out, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!e || !out) return null_arg("engine and out");
    return e->impl.test_state(out);
  });
}

int32_t quiver_cuda_compiled(void) { return quiver::backend_cuda_compiled() ? 1 : 0; }

int32_t quiver_cuda_available(char* reason, size_t reason_len) {
  try {
    std::string why;
    std::unique_ptr<quiver::Backend> b = quiver::backend_cuda(&why, "off");  // the GPU alone
    if (reason && reason_len) std::snprintf(reason, reason_len, "%s", b ? "" : why.c_str());
    return b ? 1 : 0;
  } catch (...) {
    if (reason && reason_len) std::snprintf(reason, reason_len, "internal error while probing CUDA");
    return 0;
  }
}

// ---- training

quiver_status quiver_trainer_init(const quiver_trainer_options* o, quiver_trainer** out, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!o || !out) return null_arg("options and out");
    if (!o->model_dir) return null_arg("model_dir");
    if (o->mode != QUIVER_TRAIN_FULL && o->mode != QUIVER_TRAIN_LORA)
      return quiver::Error(QUIVER_ERR_INVALID_ARGUMENT, "unknown training mode %d", (int)o->mode);
    if (o->precision != 32 && o->precision != 64)
      return quiver::Error(QUIVER_ERR_INVALID_ARGUMENT, "precision must be 32 or 64, not %d", o->precision);
    quiver::TrainerOptions t;
    t.model_dir = o->model_dir;
    t.lora = o->mode == QUIVER_TRAIN_LORA;
    t.init_random = o->init_random != 0;
    t.rank = o->rank;
    t.alpha = o->alpha;
    t.rslora = o->use_rslora != 0;
    t.modules = o->modules;
    t.seed = o->seed;
    t.threads = o->threads;
    t.f64 = o->precision == 64;
    t.beta1 = o->beta1;
    t.beta2 = o->beta2;
    t.eps = o->eps;
    t.weight_decay = o->weight_decay;
    t.clip = o->clip;
    t.device = (quiver::TrainDevice)o->device;
    t.cublas = o->cublas ? o->cublas : "";
    std::unique_ptr<quiver::Trainer> impl;
    QUIVER_TRY(quiver::Trainer::create(t, &impl));
    *out = new quiver_trainer{std::move(impl)};
    return quiver::Status::Ok();
  });
}

void quiver_trainer_free(quiver_trainer* trainer) { delete trainer; }

int32_t quiver_trainer_num_tensors(const quiver_trainer* trainer) {
  return trainer ? (int32_t)trainer->impl->tensors().size() : 0;
}

int32_t quiver_cublas_status(const char* setting, char* out, size_t out_len) {
  std::string why;
  std::shared_ptr<const quiver::Cublas> b = quiver::Cublas::load(setting ? setting : "", &why);
  if (out && out_len) std::snprintf(out, out_len, "%s", b ? b->describe().c_str() : why.c_str());
  return b ? 1 : 0;
}

void quiver_trainer_device_note(const quiver_trainer* trainer, char* out, size_t out_len) {
  if (!out || out_len == 0) return;
  std::snprintf(out, out_len, "%s", trainer ? trainer->impl->device_note().c_str() : "");
}

quiver_status quiver_trainer_tensor_info(const quiver_trainer* trainer, int32_t index, quiver_tensor_info* out,
                                         quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!trainer || !out) return null_arg("trainer and out");
    const auto& ts = trainer->impl->tensors();
    if (index < 0 || index >= (int32_t)ts.size()) return quiver::Error(QUIVER_ERR_NOT_FOUND, "no tensor %d", index);
    const quiver::TensorMeta& m = ts[index];
    std::memset(out, 0, sizeof *out);
    std::snprintf(out->name, sizeof out->name, "%s", m.name.c_str());
    out->ndim = (int32_t)m.shape.size();
    for (size_t i = 0; i < m.shape.size() && i < 4; ++i) out->shape[i] = m.shape[i];
    out->numel = m.numel;
    out->trainable = m.trainable ? 1 : 0;
    return quiver::Status::Ok();
  });
}

quiver_status quiver_trainer_tensor_read(const quiver_trainer* trainer, int32_t index, quiver_tensor_part part,
                                         double* data, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!trainer || !data) return null_arg("trainer and data");
    if (part < QUIVER_PART_VALUE || part > QUIVER_PART_ADAM_V) return quiver::Error(QUIVER_ERR_INVALID_ARGUMENT, "unknown tensor part");
    return trainer->impl->read(index, (quiver::TensorPart)part, data);
  });
}

quiver_status quiver_trainer_tensor_write(quiver_trainer* trainer, int32_t index, quiver_tensor_part part,
                                          const double* data, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!trainer || !data) return null_arg("trainer and data");
    if (part < QUIVER_PART_VALUE || part > QUIVER_PART_ADAM_V) return quiver::Error(QUIVER_ERR_INVALID_ARGUMENT, "unknown tensor part");
    return trainer->impl->write(index, (quiver::TensorPart)part, data);
  });
}


quiver_status quiver_trainer_loss(quiver_trainer* t, const quiver_train_batch* b, quiver_train_stats* out, quiver_error* err) {
  return train_call(t, b, out, err, [&](const quiver::TrainBatch& tb, quiver::StepStats* st) { return t->impl->loss(tb, st); });
}

quiver_status quiver_trainer_backward(quiver_trainer* t, const quiver_train_batch* b, quiver_train_stats* out,
                                      quiver_error* err) {
  return train_call(t, b, out, err,
                    [&](const quiver::TrainBatch& tb, quiver::StepStats* st) { return t->impl->forward_backward(tb, st); });
}

quiver_status quiver_trainer_step(quiver_trainer* t, const quiver_train_batch* b, float lr, quiver_train_stats* out,
                                  quiver_error* err) {
  return train_call(t, b, out, err,
                    [&](const quiver::TrainBatch& tb, quiver::StepStats* st) { return t->impl->step(tb, lr, st); });
}

quiver_status quiver_trainer_set_step(quiver_trainer* trainer, int64_t step, quiver_error* err) {
  return guarded(err, [&]() -> quiver::Status {
    if (!trainer) return null_arg("trainer");
    if (step < 0) return quiver::Error(QUIVER_ERR_INVALID_ARGUMENT, "step must be >= 0");
    trainer->impl->set_steps(step);
    return quiver::Status::Ok();
  });
}

}  // extern "C"
