// Node-API binding of the C API (include/quiver.h). Every engine call runs on the engine's
// own thread, fed by a queue (one step at a time, in order), except the slow half of
// loadAdapter: the folder is read (quiver_adapter_read) on a loader thread of the engine's,
// beside the steps, and only its registration queues on the engine thread. JS values are read into plain
// C++ structs on the main thread before a job is queued and written back on the main
// thread when it completes, so the engine thread never touches a JS value. Failures
// reject the returned promise with an Error whose `code` is the quiver_status name.
#include <napi.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "../include/quiver.h"

namespace {

Napi::Error coded_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

// A promise already rejected with a coded error (bad arguments, a closed or busy object).
Napi::Value rejected(Napi::Env env, const std::string& message, const char* code = "INVALID_ARGUMENT") {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(coded_error(env, code, message).Value());
  return d.Promise();
}

// The options object's `cublas` setting (quiver.h), "" when absent.
std::string cublas_option(const Napi::Object& o) {
  const Napi::Value v = o.Get("cublas");
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
}

// ---------------------------------------------------------------- engine thread

class EngineThread {
 public:
  // `nice`: the thread's priority below the process's (Linux; 0 elsewhere). The loader runs
  // at 10, so that where cores are short the steps of running generations go first.
  explicit EngineThread(int nice = 0) : nice_(nice), thread_([this] { loop(); }) {}
  ~EngineThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void loop() {
#ifdef __linux__
    if (nice_ > 0) setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), getpriority(PRIO_PROCESS, 0) + nice_);
#endif
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stop_ and drained
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  int nice_ = 0;
  std::thread thread_;
};

// A job's result travels back through a thread-safe function as one of these.
struct Completion {
  std::function<void(Napi::Env)> settle;
};

// ---------------------------------------------------------------- the wrapped engine

class NativeEngine : public Napi::ObjectWrap<NativeEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeEngine",
                       {InstanceMethod("info", &NativeEngine::Info),
                        InstanceMethod("loadAdapter", &NativeEngine::LoadAdapter),
                        InstanceMethod("freeAdapter", &NativeEngine::FreeAdapter),
                        InstanceMethod("adapterInfo", &NativeEngine::AdapterInfo),
                        InstanceMethod("createSequence", &NativeEngine::CreateSequence),
                        InstanceMethod("freeSequence", &NativeEngine::FreeSequence),
                        InstanceMethod("cancelSequence", &NativeEngine::CancelSequence),
                        InstanceMethod("sequenceLength", &NativeEngine::SequenceLength),
                        InstanceMethod("step", &NativeEngine::Step),
                        InstanceMethod("generate", &NativeEngine::Generate),
                        InstanceMethod("measureBandwidth", &NativeEngine::MeasureBandwidth),
                        InstanceMethod("measureCompute", &NativeEngine::MeasureCompute),
                        InstanceMethod("setTestFaults", &NativeEngine::SetTestFaults),
                        InstanceMethod("testState", &NativeEngine::TestState),
                        InstanceMethod("close", &NativeEngine::Close)});
  }

  explicit NativeEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeEngine>(info) {
    Napi::Env env = info.Env();
    done_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                          "quiver-engine", 0, 1);
    done_.Unref(env);  // only pending jobs keep the process alive
    napi_add_env_cleanup_hook(env, &NativeEngine::Cleanup, this);
  }

  ~NativeEngine() override {
    napi_remove_env_cleanup_hook(Env(), &NativeEngine::Cleanup, this);
    Shutdown();
  }

  // Called once by the module's open(): loads the model on the engine thread; the promise
  // resolves with this object.
  Napi::Value Open(Napi::Env env, quiver_engine_options opts, std::string dir, std::string cublas) {
    auto keep = std::make_shared<std::pair<std::string, std::string>>(std::move(dir), std::move(cublas));
    opts.model_dir = keep->first.c_str();
    opts.cublas = keep->second.c_str();
    return Run(env, [this, opts, keep](quiver_error* err) {
      quiver_engine* e = nullptr;
      quiver_status s = quiver_engine_init(&opts, &e, err);
      engine_ = e;
      return s;
    }, [this](Napi::Env) { return Value(); });
  }

 private:
  using Work = std::function<quiver_status(quiver_error*)>;
  using Result = std::function<Napi::Value(Napi::Env)>;

  static void Cleanup(void* self) { static_cast<NativeEngine*>(self)->Shutdown(); }

  // Without close(): at garbage collection or environment teardown. Blocks until the
  // queued jobs are done; their completions are dropped.
  void Shutdown() {
    // The reads first: each queues its registration on the engine thread before the free.
    loader_.reset();
    if (thread_) {
      quiver_engine* e = engine_;
      engine_ = nullptr;
      thread_->post([e] { quiver_engine_free(e); });
      thread_.reset();  // drains the queue, then joins
    }
    if (done_) {
      done_.Abort();
      done_ = Napi::ThreadSafeFunction();
    }
  }

  // Queues `work` on the engine thread; the promise settles with result(env) or the error.
  Napi::Value Run(Napi::Env env, Work work, Result result) { return Run(env, nullptr, std::move(work), std::move(result)); }

  // With `first`: it runs on the loader thread, then (when it succeeded) `work` queues on the
  // engine thread. Jobs of the two threads interleave; each thread keeps its own order.
  Napi::Value Run(Napi::Env env, Work first, Work work, Result result) {
    auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
    Napi::Promise promise = deferred->Promise();
    if (!thread_ || closing_) {
      deferred->Reject(coded_error(env, "INVALID_ARGUMENT", "the engine is closed").Value());
      return promise;
    }
    if (pending_++ == 0) done_.Ref(env);
    auto self = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Value()));  // keep alive
    auto err = std::make_shared<quiver_error>();
    auto status = std::make_shared<quiver_status>(QUIVER_OK);
    Napi::ThreadSafeFunction done = done_;
    auto settle = [=]() {
      auto* c = new Completion{[=](Napi::Env e) {
        Napi::HandleScope scope(e);
        if (*status != QUIVER_OK)
          deferred->Reject(coded_error(e, quiver_status_name(*status), err->message).Value());
        else
          deferred->Resolve(result(e));
        if (--pending_ == 0 && done_) done_.Unref(e);
        self->Reset();
      }};
      // When the call fails the environment is going away: `c` is leaked on purpose, since
      // its JS references must not be destroyed off the main thread.
      done.NonBlockingCall(c, [](Napi::Env e, Napi::Function, Completion* c) {
        c->settle(e);
        delete c;
      });
    };
    auto job = [=]() {
      std::memset(err.get(), 0, sizeof(quiver_error));
      *status = work(err.get());
      settle();
    };
    if (!first) {
      thread_->post(job);
      return promise;
    }
    // The engine thread outlives the loader's jobs: close() and Shutdown() drain the loader first.
    EngineThread* engine_thread = thread_.get();
    loader_->post([=]() {
      std::memset(err.get(), 0, sizeof(quiver_error));
      *status = first(err.get());
      if (*status != QUIVER_OK) return settle();
      engine_thread->post(job);
    });
    return promise;
  }

  static bool ReadInt(const Napi::Value& v, int64_t* out) {
    if (!v.IsNumber()) return false;
    double d = v.As<Napi::Number>().DoubleValue();
    if (d != (double)(int64_t)d) return false;
    *out = (int64_t)d;
    return true;
  }

  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) return env.Null();
    quiver_engine_info i;
    quiver_engine_info_get(engine_, &i);
    Napi::Object o = Napi::Object::New(env);
    o.Set("vocabSize", i.vocab_size);
    o.Set("hiddenSize", i.hidden_size);
    o.Set("intermediateSize", i.intermediate_size);
    o.Set("numLayers", i.num_layers);
    o.Set("numHeads", i.num_heads);
    o.Set("numKvHeads", i.num_kv_heads);
    o.Set("headDim", i.head_dim);
    o.Set("maxContext", i.max_context);
    o.Set("bosTokenId", i.bos_token_id);
    Napi::Array eos = Napi::Array::New(env, (size_t)i.num_eos_token_ids);
    for (int k = 0; k < i.num_eos_token_ids; ++k) eos.Set((uint32_t)k, i.eos_token_ids[k]);
    o.Set("eosTokenIds", eos);
    o.Set("tiedEmbeddings", i.tied_embeddings != 0);
    o.Set("numParameters", (double)i.num_parameters);
    o.Set("weightBytes", (double)i.weight_bytes);
    o.Set("device", i.device);
    o.Set("kernels", i.kernels);
    o.Set("deviceNote", i.device_note);
    o.Set("threads", i.threads);
    o.Set("adapterSlots", i.adapter_slots);
    o.Set("maxStepTokens", i.max_step_tokens);
    return o;
  }

  // loadAdapter(dir, prepare): read (and, with prepare, laid out) on the loader thread beside
  // the steps; registered on the engine thread.
  Napi::Value LoadAdapter(const Napi::CallbackInfo& info) {
    if (!info[0].IsString()) return rejected(info.Env(), "loadAdapter(dir: string, prepare?: boolean)");
    auto dir = std::make_shared<std::string>(info[0].As<Napi::String>().Utf8Value());
    const int32_t prepare = info.Length() > 1 && info[1].ToBoolean().Value() ? 1 : 0;
    auto id = std::make_shared<int32_t>(0);
    auto staged = std::make_shared<quiver_adapter_staged*>(nullptr);
    quiver_engine* engine = engine_;
    return Run(
        info.Env(),
        [engine, dir, prepare, staged](quiver_error* e) { return quiver_adapter_read(engine, dir->c_str(), prepare, staged.get(), e); },
        [engine, staged, id](quiver_error* e) {
          quiver_adapter_staged* s = *staged;
          *staged = nullptr;
          return quiver_adapter_add(engine, s, id.get(), e);
        },
        [id](Napi::Env env) { return Napi::Number::New(env, *id); });
  }

  Napi::Value FreeAdapter(const Napi::CallbackInfo& info) {
    int64_t id;
    if (!ReadInt(info[0], &id)) return rejected(info.Env(), "freeAdapter(id: number)");
    return Run(info.Env(), [this, id](quiver_error* e) { return quiver_adapter_free(engine_, (int32_t)id, e); },
               [](Napi::Env env) { return env.Undefined(); });
  }

  Napi::Value AdapterInfo(const Napi::CallbackInfo& info) {
    int64_t id;
    if (!ReadInt(info[0], &id)) return rejected(info.Env(), "adapterInfo(id: number)");
    auto out = std::make_shared<quiver_adapter_info>();
    return Run(info.Env(), [this, id, out](quiver_error* e) { return quiver_adapter_info_get(engine_, (int32_t)id, out.get(), e); },
               [out](Napi::Env env) {
                 Napi::Object o = Napi::Object::New(env);
                 o.Set("id", out->id);
                 o.Set("maxRank", out->max_rank);
                 o.Set("numModules", out->num_modules);
                 o.Set("resident", out->resident != 0);
                 o.Set("slot", out->slot);
                 o.Set("alpha", out->alpha);
                 o.Set("useRslora", out->use_rslora != 0);
                 o.Set("residentBytes", (double)out->resident_bytes);
                 o.Set("bytes", (double)out->bytes);
                 return o;
               });
  }

  Napi::Value CreateSequence(const Napi::CallbackInfo& info) {
    quiver_sampling s{0, 0, 1, 0};
    if (info[0].IsObject()) {
      Napi::Object o = info[0].As<Napi::Object>();
      if (o.Get("temperature").IsNumber()) s.temperature = o.Get("temperature").As<Napi::Number>().FloatValue();
      if (o.Get("topK").IsNumber()) s.top_k = o.Get("topK").As<Napi::Number>().Int32Value();
      if (o.Get("topP").IsNumber()) s.top_p = o.Get("topP").As<Napi::Number>().FloatValue();
      if (o.Get("seed").IsNumber()) s.seed = (uint64_t)o.Get("seed").As<Napi::Number>().Int64Value();
    }
    auto id = std::make_shared<int32_t>(0);
    return Run(info.Env(), [this, s, id](quiver_error* e) { return quiver_sequence_init(engine_, &s, id.get(), e); },
               [id](Napi::Env env) { return Napi::Number::New(env, *id); });
  }

  Napi::Value FreeSequence(const Napi::CallbackInfo& info) {
    int64_t id;
    if (!ReadInt(info[0], &id)) return rejected(info.Env(), "freeSequence(id: number)");
    return Run(info.Env(), [this, id](quiver_error* e) { return quiver_sequence_free(engine_, (int32_t)id, e); },
               [](Napi::Env env) { return env.Undefined(); });
  }

  // Synchronous and thread-safe: a running generation stops at its next token.
  Napi::Value CancelSequence(const Napi::CallbackInfo& info) {
    int64_t id;
    if (engine_ && ReadInt(info[0], &id)) quiver_sequence_cancel(engine_, (int32_t)id);
    return info.Env().Undefined();
  }

  Napi::Value SequenceLength(const Napi::CallbackInfo& info) {
    int64_t id;
    if (!ReadInt(info[0], &id)) return rejected(info.Env(), "sequenceLength(id: number)");
    auto n = std::make_shared<int32_t>(0);
    return Run(info.Env(), [this, id, n](quiver_error* e) { return quiver_sequence_length(engine_, (int32_t)id, n.get(), e); },
               [n](Napi::Env env) { return Napi::Number::New(env, *n); });
  }

  // Reads [{ id, weight }] into `out`; false when malformed.
  static bool ReadMapping(const Napi::Value& v, std::vector<quiver_adapter_weight>* out) {
    if (v.IsUndefined() || v.IsNull()) return true;
    if (!v.IsArray()) return false;
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t j = 0; j < a.Length(); ++j) {
      if (!a.Get(j).IsObject()) return false;
      Napi::Object m = a.Get(j).As<Napi::Object>();
      int64_t id;
      if (!ReadInt(m.Get("id"), &id) || !m.Get("weight").IsNumber()) return false;
      out->push_back({(int32_t)id, m.Get("weight").As<Napi::Number>().FloatValue()});
    }
    return true;
  }

  static bool ReadTokens(const Napi::Value& v, std::vector<int32_t>* out) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) return false;
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    out->assign(a.Data(), a.Data() + a.ElementLength());
    return true;
  }

  // step(items: [{ seqId, tokens: Int32Array, strategy, adapters, sample }], kernel, wantLogits)
  //   -> { results: [{ status, token, message }], logits: Float32Array | null }
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) return rejected(env, "step(items: array, kernel: number, wantLogits: boolean)");
    struct Job {
      std::vector<std::vector<int32_t>> tokens;
      std::vector<std::vector<quiver_adapter_weight>> maps;
      std::vector<quiver_step_item> items;
      std::vector<quiver_step_result> results;
      std::vector<float> logits;
      int vocab = 0;
    };
    auto job = std::make_shared<Job>();
    Napi::Array items = info[0].As<Napi::Array>();
    const uint32_t n = items.Length();
    job->tokens.resize(n);
    job->maps.resize(n);
    job->items.resize(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (!items.Get(i).IsObject()) return rejected(env, "step: each item is an object");
      Napi::Object o = items.Get(i).As<Napi::Object>();
      int64_t seq, strategy = 0;
      if (!ReadInt(o.Get("seqId"), &seq) || !ReadTokens(o.Get("tokens"), &job->tokens[i]) ||
          (!o.Get("strategy").IsUndefined() && !ReadInt(o.Get("strategy"), &strategy)) ||
          !ReadMapping(o.Get("adapters"), &job->maps[i]))
        return rejected(env, "step: item " + std::to_string(i) + " needs seqId, tokens (Int32Array), strategy and adapters [{id, weight}]");
      quiver_step_item& it = job->items[i];
      it.seq_id = (int32_t)seq;
      it.strategy = (quiver_strategy)strategy;
      it.sample = o.Get("sample").ToBoolean().Value() ? 1 : 0;
    }
    int64_t kernel = 0;
    if (!info[1].IsUndefined() && !ReadInt(info[1], &kernel)) return rejected(env, "step: kernel is a number");
    const bool want_logits = info[2].ToBoolean().Value();
    if (engine_) {
      quiver_engine_info ei;
      quiver_engine_info_get(engine_, &ei);
      job->vocab = ei.vocab_size;
    }
    return Run(env, [this, job, kernel, want_logits](quiver_error* e) {
      const size_t n = job->items.size();
      for (size_t i = 0; i < n; ++i) {
        job->items[i].tokens = job->tokens[i].data();
        job->items[i].n_tokens = (int32_t)job->tokens[i].size();
        job->items[i].adapters = job->maps[i].data();
        job->items[i].n_adapters = (int32_t)job->maps[i].size();
      }
      job->results.resize(n);
      if (want_logits) job->logits.assign(n * (size_t)job->vocab, 0.0f);
      return quiver_engine_step(engine_, job->items.data(), (int32_t)n, (quiver_lora_kernel)kernel, job->results.data(),
                                want_logits ? job->logits.data() : nullptr, e);
    }, [job, want_logits](Napi::Env env) {
      Napi::Object o = Napi::Object::New(env);
      Napi::Array results = Napi::Array::New(env, job->results.size());
      for (size_t i = 0; i < job->results.size(); ++i) {
        Napi::Object r = Napi::Object::New(env);
        r.Set("status", quiver_status_name(job->results[i].status));
        r.Set("token", job->results[i].token);
        r.Set("message", job->results[i].message);
        results.Set((uint32_t)i, r);
      }
      o.Set("results", results);
      if (want_logits) {
        Napi::Float32Array l = Napi::Float32Array::New(env, job->logits.size());
        std::memcpy(l.Data(), job->logits.data(), job->logits.size() * sizeof(float));
        o.Set("logits", l);
      } else {
        o.Set("logits", env.Null());
      }
      return o;
    });
  }

  // generate(seqId, { prompt: Int32Array, maxTokens, stopTokens: Int32Array, strategy, adapters,
  //   prefillChunk }, onToken?) -> { tokens: Int32Array, finishReason }
  Napi::Value Generate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    struct Job {
      std::vector<int32_t> prompt, stop, out;
      std::vector<quiver_adapter_weight> map;
      quiver_generate_request req{};
      int32_t n_out = 0;
      quiver_finish_reason reason = QUIVER_FINISH_LENGTH;
      quiver_error err{};
      quiver_status status = QUIVER_OK;
      Napi::ThreadSafeFunction tokens;  // onToken, also carries the final settle (FIFO)
      std::string callback_error;
    };
    auto job = std::make_shared<Job>();
    int64_t seq, max_tokens = 0, strategy = 0, chunk = 0;
    if (!info[1].IsObject() || !ReadInt(info[0], &seq)) return rejected(env, "generate(seqId, request, onToken?)");
    Napi::Object r = info[1].As<Napi::Object>();
    if (!ReadTokens(r.Get("prompt"), &job->prompt) || !ReadInt(r.Get("maxTokens"), &max_tokens) || max_tokens < 0 ||
        max_tokens > (1 << 24) || (!r.Get("stopTokens").IsUndefined() && !ReadTokens(r.Get("stopTokens"), &job->stop)) ||
        (!r.Get("strategy").IsUndefined() && !ReadInt(r.Get("strategy"), &strategy)) ||
        (!r.Get("prefillChunk").IsUndefined() && !ReadInt(r.Get("prefillChunk"), &chunk)) ||
        !ReadMapping(r.Get("adapters"), &job->map))
      return rejected(env, "generate: request needs prompt (Int32Array), maxTokens, and optional stopTokens, strategy, adapters, prefillChunk");
    if (!thread_ || closing_) return rejected(env, "the engine is closed");
    job->out.resize((size_t)max_tokens);
    job->req.max_tokens = (int32_t)max_tokens;
    job->req.strategy = (quiver_strategy)strategy;
    job->req.prefill_chunk = (int32_t)chunk;
    Napi::Function on_token = info[2].IsFunction() ? info[2].As<Napi::Function>()
                                                   : Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
    job->tokens = Napi::ThreadSafeFunction::New(env, on_token, "quiver-tokens", 0, 1);
    auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
    auto self = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Value()));
    const int32_t seq_id = (int32_t)seq;
    quiver_engine* engine = engine_;
    thread_->post([job, deferred, self, seq_id, engine]() {
      job->req.prompt = job->prompt.data();
      job->req.n_prompt = (int32_t)job->prompt.size();
      job->req.stop_tokens = job->stop.data();
      job->req.n_stop = (int32_t)job->stop.size();
      job->req.adapters = job->map.data();
      job->req.n_adapters = (int32_t)job->map.size();
      struct Ctx { Job* job; quiver_engine* engine; int32_t seq; } ctx{job.get(), engine, seq_id};
      auto cb = [](void* user, int32_t token) {
        Ctx* c = static_cast<Ctx*>(user);
        auto* t = new int32_t(token);
        Job* j = c->job;
        if (j->tokens.NonBlockingCall(t, [j, c_engine = c->engine, c_seq = c->seq](Napi::Env env, Napi::Function fn, int32_t* t) {
              try {
                if (j->callback_error.empty()) fn.Call({Napi::Number::New(env, *t)});
              } catch (const Napi::Error& e) {
                j->callback_error = e.Message();
                quiver_sequence_cancel(c_engine, c_seq);  // stop generating for a broken consumer
              }
              delete t;
            }) != napi_ok)
          delete t;
      };
      job->status = quiver_engine_generate(engine, seq_id, &job->req, cb, &ctx, job->out.data(), &job->n_out,
                                           &job->reason, &job->err);
      auto* c = new Completion{[job, deferred, self](Napi::Env env) {
        Napi::HandleScope scope(env);
        if (job->status != QUIVER_OK) {
          deferred->Reject(coded_error(env, quiver_status_name(job->status), job->err.message).Value());
        } else if (!job->callback_error.empty()) {
          deferred->Reject(coded_error(env, "CALLBACK_FAILED", "onToken threw: " + job->callback_error).Value());
        } else {
          Napi::Object o = Napi::Object::New(env);
          Napi::Int32Array t = Napi::Int32Array::New(env, (size_t)job->n_out);
          std::memcpy(t.Data(), job->out.data(), sizeof(int32_t) * (size_t)job->n_out);
          o.Set("tokens", t);
          static const char* reasons[] = {"stop", "length", "context", "cancelled"};
          o.Set("finishReason", reasons[job->reason]);
          deferred->Resolve(o);
        }
        self->Reset();
      }};
      job->tokens.NonBlockingCall(c, [](Napi::Env env, Napi::Function, Completion* c) {  // leaked on failure, as in Run
        c->settle(env);
        delete c;
      });
      job->tokens.Release();
    });
    return deferred->Promise();
  }

  Napi::Value MeasureBandwidth(const Napi::CallbackInfo& info) {
    int64_t bytes, repeats;
    if (!ReadInt(info[0], &bytes) || !ReadInt(info[1], &repeats)) return rejected(info.Env(), "measureBandwidth(bytes, repeats)");
    auto gbps = std::make_shared<double>(0);
    return Run(info.Env(), [this, bytes, repeats, gbps](quiver_error* e) {
      return quiver_engine_measure_bandwidth(engine_, bytes, (int32_t)repeats, gbps.get(), e);
    }, [gbps](Napi::Env env) { return Napi::Number::New(env, *gbps); });
  }

  Napi::Value MeasureCompute(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
      return rejected(info.Env(), "measureCompute(seconds, repeats)");
    const double seconds = info[0].As<Napi::Number>().DoubleValue();
    int64_t repeats;
    if (!ReadInt(info[1], &repeats)) return rejected(info.Env(), "measureCompute(seconds, repeats)");
    auto gflops = std::make_shared<double>(0);
    return Run(info.Env(), [this, seconds, repeats, gflops](quiver_error* e) {
      return quiver_engine_measure_compute(engine_, seconds, (int32_t)repeats, gflops.get(), e);
    }, [gflops](Napi::Env env) { return Napi::Number::New(env, *gflops); });
  }

  // Tests only (the engine opened with testFaults): setTestFaults({ failAlloc, failUpload,
  // logitIndex, logitValue }) arms the fault hook; testState() -> { liveAllocations, liveBytes, stepPasses,
  // stepMaxRows, loraScratchBytes, scoreBytes }.
  Napi::Value SetTestFaults(const Napi::CallbackInfo& info) {
    if (!info[0].IsObject()) return rejected(info.Env(), "setTestFaults({ failAlloc, failUpload, logitIndex, logitValue })");
    Napi::Object o = info[0].As<Napi::Object>();
    auto num = [&](const char* key, double dflt) {
      Napi::Value v = o.Get(key);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
    };
    quiver_test_faults f{(int32_t)num("failAlloc", -1), (int32_t)num("failUpload", -1), (int32_t)num("logitIndex", -1),
                         (float)num("logitValue", 0)};
    return Run(info.Env(), [this, f](quiver_error* e) { return quiver_engine_test_faults(engine_, &f, e); },
               [](Napi::Env env) { return env.Undefined(); });
  }

  Napi::Value TestState(const Napi::CallbackInfo& info) {
    auto out = std::make_shared<quiver_engine_test_state>();
    return Run(info.Env(), [this, out](quiver_error* e) { return quiver_engine_test_state_get(engine_, out.get(), e); },
               [out](Napi::Env env) {
                 Napi::Object o = Napi::Object::New(env);
                 o.Set("liveAllocations", (double)out->live_allocations);
                 o.Set("liveBytes", (double)out->live_bytes);
                 o.Set("stepPasses", out->step_passes);
                 o.Set("stepMaxRows", out->step_max_rows);
                 o.Set("loraScratchBytes", (double)out->lora_scratch_bytes);
                 o.Set("scoreBytes", (double)out->score_bytes);
                 return o;
               });
  }

  // Frees the engine after the jobs queued before it; later calls reject.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!thread_ || closing_) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Resolve(env.Undefined());
      return d.Promise();
    }
    // Through the loader first, so that the reads queued before it have queued their
    // registrations on the engine thread before the free.
    Napi::Value p = Run(env, [](quiver_error*) { return QUIVER_OK; }, [this](quiver_error*) {
      quiver_engine_free(engine_);
      engine_ = nullptr;
      return QUIVER_OK;
    }, [this](Napi::Env e) {
      loader_.reset();
      thread_.reset();  // idle now: the close job was the last one
      return e.Undefined();
    });
    closing_ = true;
    return p;
  }

  std::unique_ptr<EngineThread> thread_{new EngineThread()};
  std::unique_ptr<EngineThread> loader_{new EngineThread(10)};  // adapter reads (quiver_adapter_read), at a lower priority
  quiver_engine* engine_ = nullptr;
  Napi::ThreadSafeFunction done_;
  int pending_ = 0;      // jobs queued and not yet settled (main thread only)
  bool closing_ = false;  // close() was called
};

Napi::FunctionReference* g_ctor = nullptr;

// open({ modelDir, device, threads, adapterSlots, maxRank, maxAdapterBytes, maxContext, maxStepTokens, maxFusedBytes,
//   cpuGeneric, cublas, testFaults })
//   -> Promise<NativeEngine>
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& m) { return rejected(env, m); };
  if (!info[0].IsObject()) return fail("open(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("modelDir").IsString()) return fail("open: modelDir must be a string");
  quiver_engine_options opts{};
  auto num = [&](const char* key) -> int64_t {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : 0;
  };
  opts.device = (quiver_device)num("device");
  opts.threads = (int32_t)num("threads");
  opts.adapter_slots = (int32_t)num("adapterSlots");
  opts.max_rank = (int32_t)num("maxRank");
  opts.max_adapter_bytes = num("maxAdapterBytes");
  opts.max_context = (int32_t)num("maxContext");
  opts.max_fused_bytes = num("maxFusedBytes");
  opts.max_step_tokens = (int32_t)num("maxStepTokens");
  opts.cpu_generic = o.Get("cpuGeneric").ToBoolean().Value() ? 1 : 0;
  opts.test_faults = o.Get("testFaults").ToBoolean().Value() ? 1 : 0;
  Napi::Object obj = g_ctor->New({});
  return NativeEngine::Unwrap(obj)->Open(env, opts, o.Get("modelDir").As<Napi::String>().Utf8Value(), cublas_option(o));
}

// ---------------------------------------------------------------- the wrapped trainer
//
// Training calls are long (a step is tens to hundreds of milliseconds) and few, so each
// runs as one Napi::AsyncWorker on the libuv pool. One call at a time: a second call while
// one is in flight is refused, since a trainer is not thread-safe.

class NativeTrainer : public Napi::ObjectWrap<NativeTrainer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeTrainer",
                       {InstanceMethod("tensors", &NativeTrainer::Tensors),
                        InstanceMethod("read", &NativeTrainer::Read),
                        InstanceMethod("write", &NativeTrainer::Write),
                        InstanceMethod("loss", &NativeTrainer::Loss),
                        InstanceMethod("backward", &NativeTrainer::Backward),
                        InstanceMethod("step", &NativeTrainer::Step),
                        InstanceMethod("setStep", &NativeTrainer::SetStep),
                        InstanceMethod("deviceNote", &NativeTrainer::DeviceNote),
                        InstanceMethod("close", &NativeTrainer::Close)});
  }

  explicit NativeTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeTrainer>(info) {}
  ~NativeTrainer() override { quiver_trainer_free(trainer_); }

  // A job off the main thread; settles `deferred` with result() or the coded error.
  class Job : public Napi::AsyncWorker {
   public:
    Job(Napi::Env env, NativeTrainer* owner, std::function<quiver_status(quiver_error*)> work,
        std::function<Napi::Value(Napi::Env)> result)
        : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), owner_(owner),
          self_(Napi::Persistent(owner->Value())), work_(std::move(work)), result_(std::move(result)) {
      std::memset(&err_, 0, sizeof err_);
    }
    Napi::Promise Promise() { return deferred_.Promise(); }
    void Execute() override { status_ = work_(&err_); }
    void OnOK() override {
      owner_->busy_ = false;
      if (status_ != QUIVER_OK)
        deferred_.Reject(coded_error(Env(), quiver_status_name(status_), err_.message).Value());
      else
        deferred_.Resolve(result_(Env()));
    }
    void OnError(const Napi::Error& e) override {
      owner_->busy_ = false;
      deferred_.Reject(e.Value());
    }

   private:
    Napi::Promise::Deferred deferred_;
    NativeTrainer* owner_;
    Napi::ObjectReference self_;  // keeps the trainer alive while the job runs
    std::function<quiver_status(quiver_error*)> work_;
    std::function<Napi::Value(Napi::Env)> result_;
    quiver_status status_ = QUIVER_OK;
    quiver_error err_;
  };

  Napi::Value Start(Napi::Env env, std::function<quiver_status(quiver_error*)> work,
                    std::function<Napi::Value(Napi::Env)> result) {
    if (busy_) return rejected(env, "the trainer is busy: await the previous call first");
    busy_ = true;
    auto* job = new Job(env, this, std::move(work), std::move(result));
    Napi::Promise p = job->Promise();
    job->Queue();
    return p;
  }

  // Loads the model off the main thread; resolves with this object.
  Napi::Value Open(Napi::Env env, quiver_trainer_options opts, std::string dir, std::string cublas) {
    auto keep = std::make_shared<std::pair<std::string, std::string>>(std::move(dir), std::move(cublas));
    opts.model_dir = keep->first.c_str();
    opts.cublas = keep->second.c_str();
    return Start(env, [this, opts, keep](quiver_error* err) {
      quiver_trainer* t = nullptr;
      quiver_status s = quiver_trainer_init(&opts, &t, err);
      trainer_ = t;
      return s;
    }, [this](Napi::Env) { return Value(); });
  }

 private:
  bool Usable(Napi::Env env) {
    if (!trainer_) {
      coded_error(env, "INVALID_ARGUMENT", "the trainer is closed").ThrowAsJavaScriptException();
      return false;
    }
    if (busy_) {
      coded_error(env, "INVALID_ARGUMENT", "the trainer is busy: await the previous call first").ThrowAsJavaScriptException();
      return false;
    }
    return true;
  }

  Napi::Value DeviceNote(const Napi::CallbackInfo& info) {
    if (!trainer_) return Napi::String::New(info.Env(), "");
    char note[512];
    quiver_trainer_device_note(trainer_, note, sizeof note);
    return Napi::String::New(info.Env(), note);
  }

  Napi::Value Tensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    const int32_t n = quiver_trainer_num_tensors(trainer_);
    Napi::Array out = Napi::Array::New(env, n);
    for (int32_t i = 0; i < n; ++i) {
      quiver_tensor_info t;
      quiver_trainer_tensor_info(trainer_, i, &t, nullptr);
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      Napi::Array shape = Napi::Array::New(env, t.ndim);
      for (int32_t d = 0; d < t.ndim; ++d) shape.Set(d, Napi::Number::New(env, (double)t.shape[d]));
      o.Set("shape", shape);
      o.Set("numel", Napi::Number::New(env, (double)t.numel));
      o.Set("trainable", t.trainable != 0);
      out.Set(i, o);
    }
    return out;
  }

  bool Part(const Napi::CallbackInfo& info, int32_t* index, quiver_tensor_part* part, int64_t* numel) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || !info[1].IsNumber()) {
      coded_error(env, "INVALID_ARGUMENT", "expected (index, part)").ThrowAsJavaScriptException();
      return false;
    }
    *index = info[0].As<Napi::Number>().Int32Value();
    *part = (quiver_tensor_part)info[1].As<Napi::Number>().Int32Value();
    quiver_tensor_info t;
    quiver_error err;
    if (quiver_trainer_tensor_info(trainer_, *index, &t, &err) != QUIVER_OK) {
      coded_error(env, quiver_status_name(err.status), err.message).ThrowAsJavaScriptException();
      return false;
    }
    *numel = t.numel;
    return true;
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    int32_t index;
    quiver_tensor_part part;
    int64_t numel;
    if (!Part(info, &index, &part, &numel)) return env.Undefined();
    Napi::Float64Array out = Napi::Float64Array::New(env, (size_t)numel);
    quiver_error err;
    if (quiver_trainer_tensor_read(trainer_, index, part, out.Data(), &err) != QUIVER_OK) {
      coded_error(env, quiver_status_name(err.status), err.message).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return out;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    int32_t index;
    quiver_tensor_part part;
    int64_t numel;
    if (!Part(info, &index, &part, &numel)) return env.Undefined();
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
        (int64_t)info[2].As<Napi::Float64Array>().ElementLength() != numel) {
      coded_error(env, "INVALID_ARGUMENT", "write(index, part, data): data must be a Float64Array of the tensor's size")
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    quiver_error err;
    if (quiver_trainer_tensor_write(trainer_, index, part, info[2].As<Napi::Float64Array>().Data(), &err) != QUIVER_OK) {
      coded_error(env, quiver_status_name(err.status), err.message).ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }

  // (tokens: Int32Array, targets: Int32Array, batch, seqLen[, lr][, loraWeight]) -> Promise<stats>
  Napi::Value Batch(const Napi::CallbackInfo& info, int kind) {
    Napi::Env env = info.Env();
    if (!trainer_) return rejected(env, "the trainer is closed");
    auto i32 = [](const Napi::Value& v) {
      return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
    };
    if (!i32(info[0]) || !i32(info[1]) || !info[2].IsNumber() || !info[3].IsNumber() || (kind == 2 && !info[4].IsNumber()))
      return rejected(env, "expected (tokens: Int32Array, targets: Int32Array, batch, seqLen" + std::string(kind == 2 ? ", lr)" : ")"));
    Napi::Int32Array tk = info[0].As<Napi::Int32Array>(), tg = info[1].As<Napi::Int32Array>();
    const int64_t B = info[2].As<Napi::Number>().Int64Value(), S = info[3].As<Napi::Number>().Int64Value();
    if (B <= 0 || S <= 0 || B * S != (int64_t)tk.ElementLength() || B * S != (int64_t)tg.ElementLength())
      return rejected(env, "tokens and targets must both hold batch * seqLen entries");
    auto tokens = std::make_shared<std::vector<int32_t>>(tk.Data(), tk.Data() + tk.ElementLength());
    auto targets = std::make_shared<std::vector<int32_t>>(tg.Data(), tg.Data() + tg.ElementLength());
    const float lr = kind == 2 ? (float)info[4].As<Napi::Number>().DoubleValue() : 0.0f;
    const int wi = kind == 2 ? 5 : 4;  // optional loraWeight after the other arguments
    const float lora_weight = info[wi].IsNumber() ? (float)info[wi].As<Napi::Number>().DoubleValue() : 1.0f;
    auto stats = std::make_shared<quiver_train_stats>();
    quiver_trainer* t = trainer_;
    return Start(env, [=](quiver_error* err) {
      quiver_train_batch b{tokens->data(), targets->data(), (int32_t)B, (int32_t)S, lora_weight};
      if (kind == 0) return quiver_trainer_loss(t, &b, stats.get(), err);
      if (kind == 1) return quiver_trainer_backward(t, &b, stats.get(), err);
      return quiver_trainer_step(t, &b, lr, stats.get(), err);
    }, [stats](Napi::Env e) -> Napi::Value {
      Napi::Object o = Napi::Object::New(e);
      o.Set("loss", stats->loss);
      o.Set("targets", Napi::Number::New(e, (double)stats->targets));
      o.Set("gradNorm", stats->grad_norm);
      o.Set("step", Napi::Number::New(e, (double)stats->step));
      return o;
    });
  }
  Napi::Value Loss(const Napi::CallbackInfo& info) { return Batch(info, 0); }
  Napi::Value Backward(const Napi::CallbackInfo& info) { return Batch(info, 1); }
  Napi::Value Step(const Napi::CallbackInfo& info) { return Batch(info, 2); }

  Napi::Value SetStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Usable(env)) return env.Undefined();
    quiver_error err;
    if (!info[0].IsNumber() || quiver_trainer_set_step(trainer_, info[0].As<Napi::Number>().Int64Value(), &err) != QUIVER_OK)
      coded_error(env, "INVALID_ARGUMENT", "setStep(n): n must be an integer >= 0").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (busy_) {
      coded_error(env, "INVALID_ARGUMENT", "the trainer is busy: await the previous call first").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    quiver_trainer_free(trainer_);
    trainer_ = nullptr;
    return env.Undefined();
  }

  quiver_trainer* trainer_ = nullptr;
  bool busy_ = false;
};

Napi::FunctionReference* g_trainer_ctor = nullptr;

// openTrainer({ modelDir, mode, initRandom, rank, alpha, rslora, modules, seed, threads,
//   precision, beta1, beta2, eps, weightDecay, clip, device, cublas }) -> Promise<NativeTrainer>
Napi::Value OpenTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& m) { return rejected(env, m); };
  if (!info[0].IsObject()) return fail("openTrainer(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("modelDir").IsString()) return fail("openTrainer: modelDir must be a string");
  auto num = [&](const char* key, double dflt) -> double {
    Napi::Value v = o.Get(key);
    return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
  };
  quiver_trainer_options opts{};
  opts.mode = (quiver_train_mode)(int)num("mode", 0);
  opts.init_random = o.Get("initRandom").ToBoolean().Value() ? 1 : 0;
  opts.rank = (int32_t)num("rank", 8);
  opts.alpha = (float)num("alpha", 16);
  opts.use_rslora = o.Get("rslora").ToBoolean().Value() ? 1 : 0;
  opts.modules = (uint32_t)num("modules", 0x7f);
  opts.seed = (uint64_t)num("seed", 0);
  opts.threads = (int32_t)num("threads", 0);
  opts.precision = (int32_t)num("precision", 32);
  opts.beta1 = (float)num("beta1", 0.9);
  opts.beta2 = (float)num("beta2", 0.999);
  opts.eps = (float)num("eps", 1e-8);
  opts.weight_decay = (float)num("weightDecay", 0);
  opts.clip = (float)num("clip", 1);
  opts.device = (quiver_train_device)(int)num("device", 0);
  Napi::Object obj = g_trainer_ctor->New({});
  return NativeTrainer::Unwrap(obj)->Open(env, opts, o.Get("modelDir").As<Napi::String>().Utf8Value(), cublas_option(o));
}

Napi::Value CudaStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char reason[512] = {0};
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", quiver_cuda_compiled() != 0);
  o.Set("available", quiver_cuda_available(reason, sizeof reason) != 0);
  o.Set("reason", reason);
  char cublas[512] = {0};
  const std::string setting = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const bool loaded = quiver_cublas_status(setting.c_str(), cublas, sizeof cublas) != 0;
  Napi::Object c = Napi::Object::New(env);
  c.Set("loaded", loaded);
  c.Set(loaded ? "version" : "reason", cublas);
  o.Set("cublas", c);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  g_ctor = new Napi::FunctionReference(Napi::Persistent(NativeEngine::Define(env)));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("cudaStatus", Napi::Function::New(env, CudaStatus));
  g_trainer_ctor = new Napi::FunctionReference(Napi::Persistent(NativeTrainer::Define(env)));
  exports.Set("openTrainer", Napi::Function::New(env, OpenTrainer));
  return exports;
}

}  // namespace

NODE_API_MODULE(quiver, Init)
