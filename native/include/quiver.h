/* Quiver engine: the C API.
 *
 * One engine serves one Llama-family base model (a Hugging Face folder) with a pool of
 * PEFT LoRA adapters. Every sequence in a step carries its own adapter mapping, so one
 * batch mixes samples that use different adapters (see ../../shared/docs/paper.md).
 *
 * Rules of this boundary:
 *  - functions are named quiver_<object>_<action>; objects come in _init/_free pairs;
 *  - every fallible function returns a quiver_status and, when `err` is not NULL, fills it
 *    with the same status and a readable message; nothing throws across this boundary;
 *  - an engine is not thread-safe: call it from one thread at a time (the Node binding
 *    runs every call on the engine's own thread). quiver_sequence_cancel is the exception:
 *    it may be called from any thread while a step or a generation runs.
 */
#ifndef QUIVER_H
#define QUIVER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum quiver_status {
  QUIVER_OK = 0,
  QUIVER_ERR_INVALID_ARGUMENT = 1, /* a caller error: bad id, token out of range, ... */
  QUIVER_ERR_FILE_MISSING = 2,     /* a required file does not exist or cannot be read */
  QUIVER_ERR_FILE_CORRUPT = 3,     /* truncated file, bad header, malformed JSON */
  QUIVER_ERR_UNSUPPORTED = 4,      /* architecture, activation, option we do not implement */
  QUIVER_ERR_SHAPE_MISMATCH = 5,   /* a tensor's shape disagrees with config.json */
  QUIVER_ERR_DTYPE = 6,            /* a tensor dtype other than F32/F16/BF16 */
  QUIVER_ERR_NON_FINITE = 7,       /* NaN or Inf in weights, or NaN/+inf in a step's logits */
  QUIVER_ERR_RANK_LIMIT = 8,       /* adapter rank above the engine's limit */
  QUIVER_ERR_SIZE_LIMIT = 9,       /* adapter bytes above the engine's limit */
  QUIVER_ERR_BASE_MISMATCH = 10,   /* adapter made for another base model */
  QUIVER_ERR_CONTEXT_OVERFLOW = 11,/* a sequence would grow past the context length */
  QUIVER_ERR_NO_FREE_SLOT = 12,    /* every adapter slot is pinned by the current step, or the fused
                                      adapters' budget is held by other sequences (retry later) */
  QUIVER_ERR_NOT_FOUND = 13,       /* unknown adapter or sequence id */
  QUIVER_ERR_CANCELLED = 14,       /* the sequence was cancelled */
  QUIVER_ERR_OUT_OF_MEMORY = 15,
  QUIVER_ERR_DEVICE = 16,          /* a CUDA error */
  QUIVER_ERR_INTERNAL = 17
} quiver_status;

/* The status's stable name without the prefix, e.g. "FILE_CORRUPT"; "UNKNOWN" otherwise. */
const char* quiver_status_name(quiver_status status);

typedef struct quiver_error {
  quiver_status status;
  char message[1024];
} quiver_error;

typedef enum quiver_device {
  QUIVER_DEVICE_AUTO = 0,          /* CUDA when built with it and a GPU answers, else CPU */
  QUIVER_DEVICE_CPU = 1,           /* the fast CPU path: threads, SIMD, gathered adapters */
  QUIVER_DEVICE_CPU_REFERENCE = 2, /* the naive CPU reference: plain loops, one thread */
  QUIVER_DEVICE_CUDA = 3,
  QUIVER_DEVICE_CUDA_EMULATED = 4  /* the CUDA backend's code and kernels run on the host (tests) */
} quiver_device;

typedef enum quiver_strategy {
  QUIVER_STRATEGY_NONE = 0,       /* y = W x */
  QUIVER_STRATEGY_MIXTURE = 1,    /* y = W x + sum_j w_j s_j B_j A_j x */
  QUIVER_STRATEGY_FUSION = 2,     /* y = W x + (sum_j w_j s_j B_j)(sum_j w_j A_j) x (paper) */
  QUIVER_STRATEGY_FUSION_CAT = 3, /* y = W x + [s_j B_j]_j [w_j A_j]_j x (exact, = mixture) */
  QUIVER_STRATEGY_SELECTION = 4   /* y = W x + s_1 B_1 A_1 x, the first adapter of the list */
} quiver_strategy;

typedef enum quiver_lora_kernel {
  QUIVER_LORA_GATHER = 0, /* each sample gathers only its own adapters (Punica BGMV/SGMV) */
  QUIVER_LORA_DENSE = 1   /* the paper's formulation: every sample through every adapter
                             of the batch, then masked by the mapping matrix */
} quiver_lora_kernel;

typedef struct quiver_engine_options {
  const char* model_dir;   /* a Hugging Face Llama-family folder */
  quiver_device device;
  int32_t threads;         /* CPU threads; 0 = all hardware threads */
  int32_t adapter_slots;   /* resident adapters at most; 0 = 16 */
  int32_t max_rank;        /* adapter rank limit; 0 = 64 */
  int64_t max_adapter_bytes; /* adapter size limit (as f32); 0 = 1 GiB */
  int32_t max_context;     /* 0 = config max_position_embeddings */
  int32_t cpu_generic;     /* 1: the fast CPU path uses its portable kernels even where AVX2
                              runs (also QUIVER_CPU_ISA=generic) */
  const char* cublas;      /* The CUDA devices' products: NULL or "" = $QUIVER_CUBLAS, else "auto" (cuBLAS where
                              libcublas loads, else Quiver's tiled kernels), "off" (the tiled kernels), "emulate"
                              (cuda-emulated: the host stand-in for the cuBLAS calls) or a path to libcublas. */
  int32_t max_step_tokens; /* tokens one forward pass processes at most; 0 = 2048. A step whose items bring more
                              runs several passes, its prefills chunked to fit (the same results) */
  int64_t max_fused_bytes; /* the fused adapters of all sequences (FUSION, FUSION_CAT) together, in f32 bytes of
                              A and B; 0 = 2 GiB. Past it an item fails with NO_FREE_SLOT (SIZE_LIMIT when its
                              fused adapter alone is larger) */
  int32_t test_faults;     /* tests only: 1 installs the fault hook (quiver_engine_test_faults); production passes 0 */
} quiver_engine_options;

typedef struct quiver_engine_info {
  int32_t vocab_size, hidden_size, intermediate_size, num_layers;
  int32_t num_heads, num_kv_heads, head_dim, max_context;
  int32_t bos_token_id;
  int32_t eos_token_ids[8];
  int32_t num_eos_token_ids;
  int32_t tied_embeddings;
  int64_t num_parameters;
  int64_t weight_bytes;        /* bytes the backend reads for the weights of one step */
  char device[32];             /* "cpu", "cpu-reference" or "cuda" */
  char kernels[32];            /* the kernel set: "avx2", "generic", "reference", "cuda" */
  char device_note[256];       /* why AUTO chose what it chose (the CUDA fallback), and on the CUDA
                                  devices what runs the products (cuBLAS, or why not) */
  int32_t threads;
  int32_t adapter_slots;
  int32_t max_step_tokens;     /* tokens one forward pass processes at most */
} quiver_engine_info;

typedef struct quiver_engine quiver_engine;

quiver_status quiver_engine_init(const quiver_engine_options* options, quiver_engine** out,
                                 quiver_error* err);
void quiver_engine_free(quiver_engine* engine);
quiver_status quiver_engine_info_get(const quiver_engine* engine, quiver_engine_info* out);

/* ---- adapters: REGISTERED (validated, host memory) <-> RESIDENT (in a slot) ---- */

typedef struct quiver_adapter_info {
  int32_t id;
  int32_t max_rank;
  int32_t num_modules;   /* (layer, projection) pairs the adapter changes */
  int32_t resident;      /* 1 while the adapter holds a slot */
  int32_t slot;          /* -1 when not resident */
  float alpha;
  int32_t use_rslora;
  int64_t bytes;         /* f32 bytes of its A and B matrices */
  int64_t resident_bytes;/* what its slot holds (the fast CPU path keeps an adapter whose values
                            are all bf16 or f16 in 16-bit lanes: half); 0 when not resident */
} quiver_adapter_info;

/* Reads and validates a PEFT folder against the base model; registers it. */
quiver_status quiver_adapter_init(quiver_engine* engine, const char* adapter_dir, int32_t* out_id,
                                  quiver_error* err);
/* The same in two halves, so that the slow half runs beside steps. quiver_adapter_read reads and
 * validates the folder and, with `prepare` where the backend keeps adapters in host memory (the
 * CPU devices), lays it out in the backend's layout, so that taking a slot later copies nothing;
 * it reads only what quiver_engine_init fixed, so it may run on any thread, concurrently with
 * every call but quiver_engine_free. quiver_adapter_add registers what was read (cheap; with the
 * engine's other calls) and takes `staged` in every case; quiver_adapter_staged_free drops one
 * that will not be added. */
typedef struct quiver_adapter_staged quiver_adapter_staged;
quiver_status quiver_adapter_read(const quiver_engine* engine, const char* adapter_dir, int32_t prepare,
                                  quiver_adapter_staged** out, quiver_error* err);
quiver_status quiver_adapter_add(quiver_engine* engine, quiver_adapter_staged* staged, int32_t* out_id,
                                 quiver_error* err);
void quiver_adapter_staged_free(quiver_engine* engine, quiver_adapter_staged* staged);
/* Forgets an adapter (and frees its slot); sequences that name it later fail with NOT_FOUND. */
quiver_status quiver_adapter_free(quiver_engine* engine, int32_t adapter_id, quiver_error* err);
quiver_status quiver_adapter_info_get(const quiver_engine* engine, int32_t adapter_id,
                                      quiver_adapter_info* out, quiver_error* err);

/* ---- sequences: one KV cache and one sampler each ---- */

typedef struct quiver_sampling {
  float temperature;  /* 0 = greedy (argmax) */
  int32_t top_k;      /* 0 = off */
  float top_p;        /* 1 or 0 = off */
  uint64_t seed;      /* the sequence's own RNG: same seed, same tokens */
} quiver_sampling;

quiver_status quiver_sequence_init(quiver_engine* engine, const quiver_sampling* sampling,
                                   int32_t* out_id, quiver_error* err);
/* Frees the sequence and its KV cache at once. */
quiver_status quiver_sequence_free(quiver_engine* engine, int32_t seq_id, quiver_error* err);
/* Marks the sequence cancelled: a running generation stops at its next token; later steps
 * that name it fail with CANCELLED. Safe from any thread. */
void quiver_sequence_cancel(quiver_engine* engine, int32_t seq_id);
/* Tokens held in the sequence's KV cache. */
quiver_status quiver_sequence_length(const quiver_engine* engine, int32_t seq_id, int32_t* out,
                                     quiver_error* err);

/* ---- one step of continuous batching ---- */

typedef struct quiver_adapter_weight {
  int32_t adapter_id;
  float weight;
} quiver_adapter_weight;

typedef struct quiver_step_item {
  int32_t seq_id;
  const int32_t* tokens;      /* (n_tokens): a prefill chunk or one decode token */
  int32_t n_tokens;
  quiver_strategy strategy;
  const quiver_adapter_weight* adapters; /* (n_adapters) the sample's mapping; may be empty */
  int32_t n_adapters;
  int32_t sample;             /* 1: sample the next token with the sequence's sampler */
} quiver_step_item;

typedef struct quiver_step_result {
  quiver_status status;       /* per item: a bad item fails alone, the batch goes on */
  int32_t token;              /* the sampled token, or -1 */
  char message[256];          /* why the item failed, when it did */
} quiver_step_result;

/* Runs one forward pass over all valid items. `logits`, when not NULL, receives
 * (n_items, vocab) floats: the logits after each item's last token (rows of failed items
 * are left untouched). Returns an error only when the whole step could not run. */
quiver_status quiver_engine_step(quiver_engine* engine, const quiver_step_item* items,
                                 int32_t n_items, quiver_lora_kernel kernel,
                                 quiver_step_result* results, float* logits, quiver_error* err);

/* ---- a whole generation on one sequence, without leaving native code ---- */

typedef enum quiver_finish_reason {
  QUIVER_FINISH_STOP = 0,      /* a stop token came (it is not part of the output) */
  QUIVER_FINISH_LENGTH = 1,    /* max_tokens reached */
  QUIVER_FINISH_CONTEXT = 2,   /* the context is full */
  QUIVER_FINISH_CANCELLED = 3
} quiver_finish_reason;

typedef struct quiver_generate_request {
  const int32_t* prompt;       /* (n_prompt) */
  int32_t n_prompt;
  int32_t max_tokens;
  const int32_t* stop_tokens;  /* (n_stop) */
  int32_t n_stop;
  quiver_strategy strategy;
  const quiver_adapter_weight* adapters;
  int32_t n_adapters;
  int32_t prefill_chunk;       /* tokens per prefill step; 0 = 256 */
} quiver_generate_request;

/* Called after each generated token, on the calling thread. */
typedef void (*quiver_token_callback)(void* user, int32_t token);

/* Prefills the prompt (after what the sequence holds) and decodes until a stop token,
 * max_tokens, the context limit or a cancel. `out_tokens` holds max_tokens entries. */
quiver_status quiver_engine_generate(quiver_engine* engine, int32_t seq_id,
                                     const quiver_generate_request* request,
                                     quiver_token_callback on_token, void* user,
                                     int32_t* out_tokens, int32_t* out_n,
                                     quiver_finish_reason* out_reason, quiver_error* err);

/* ---- training (CPU; CUDA where present): full training of a base model, or LoRA-only training ---- */

typedef enum quiver_train_mode {
  QUIVER_TRAIN_FULL = 0,  /* every base weight trains */
  QUIVER_TRAIN_LORA = 1   /* the base is frozen; LoRA A and B train (B starts at zero) */
} quiver_train_mode;

typedef enum quiver_train_device {
  QUIVER_TRAIN_CPU = 0,           /* the CPU trainer (the reference; f32 or f64) */
  QUIVER_TRAIN_CUDA = 1,          /* the device trainer on the GPU; DEVICE when there is none */
  QUIVER_TRAIN_CUDA_EMULATED = 2  /* the device trainer's kernels run on the host (tests) */
} quiver_train_device;

typedef struct quiver_trainer_options {
  const char* model_dir;     /* config.json, plus the weights unless init_random */
  quiver_train_mode mode;
  int32_t init_random;       /* FULL only: initialise the weights from the seed */
  int32_t rank;              /* LORA: 1..256 */
  float alpha;               /* LORA: scaling alpha/rank (alpha/sqrt(rank) with rslora) */
  int32_t use_rslora;
  uint32_t modules;          /* LORA: bit m for q, k, v, o, gate, up, down (m = 0..6) */
  uint64_t seed;             /* initialisation (the data order is the caller's) */
  int32_t threads;           /* 0 = all hardware threads; results do not depend on it */
  int32_t precision;         /* 32 (training) or 64 (gradient checks) */
  float beta1, beta2, eps;   /* AdamW */
  float weight_decay;        /* decoupled, matrices only */
  float clip;                /* global gradient-norm limit; 0 = off */
  quiver_train_device device;/* where the passes run (precision 32 only off the CPU) */
  const char* cublas;        /* as in quiver_engine_options */
} quiver_trainer_options;

typedef struct quiver_trainer quiver_trainer;

typedef struct quiver_tensor_info {
  char name[160];            /* Hugging Face or PEFT tensor name */
  int32_t ndim;
  int64_t shape[4];
  int64_t numel;
  int32_t trainable;
} quiver_tensor_info;

typedef enum quiver_tensor_part {
  QUIVER_PART_VALUE = 0, QUIVER_PART_GRAD = 1, QUIVER_PART_ADAM_M = 2, QUIVER_PART_ADAM_V = 3
} quiver_tensor_part;

typedef struct quiver_train_batch {
  const int32_t* tokens;     /* (batch, seq_len) */
  const int32_t* targets;    /* (batch, seq_len): the next token, or -1 for no loss */
  int32_t batch, seq_len;
  float lora_weight;         /* LORA: the weight every delta gets in this batch, as in a
                                mixture (0 = 1); varying it makes adapters mix well */
} quiver_train_batch;

typedef struct quiver_train_stats {
  double loss;               /* mean cross-entropy over the target tokens */
  int64_t targets;
  double grad_norm;          /* before clipping (0 for quiver_trainer_loss) */
  int64_t step;              /* AdamW updates done */
} quiver_train_stats;

quiver_status quiver_trainer_init(const quiver_trainer_options* options, quiver_trainer** out,
                                  quiver_error* err);
void quiver_trainer_free(quiver_trainer* trainer);
int32_t quiver_trainer_num_tensors(const quiver_trainer* trainer);
/* What runs the passes (the CUDA devices: cuBLAS or not), "" when there is nothing to say;
   written to out (truncated to out_len - 1 characters). */
void quiver_trainer_device_note(const quiver_trainer* trainer, char* out, size_t out_len);
quiver_status quiver_trainer_tensor_info(const quiver_trainer* trainer, int32_t index,
                                         quiver_tensor_info* out, quiver_error* err);
/* Copies a tensor part to/from `data` (numel doubles). GRAD and ADAM_* exist only for
 * trainable tensors. */
quiver_status quiver_trainer_tensor_read(const quiver_trainer* trainer, int32_t index,
                                         quiver_tensor_part part, double* data, quiver_error* err);
quiver_status quiver_trainer_tensor_write(quiver_trainer* trainer, int32_t index,
                                          quiver_tensor_part part, const double* data,
                                          quiver_error* err);
/* Forward only. */
quiver_status quiver_trainer_loss(quiver_trainer* trainer, const quiver_train_batch* batch,
                                  quiver_train_stats* out, quiver_error* err);
/* Forward and backward; the gradients of the mean loss replace the previous ones. */
quiver_status quiver_trainer_backward(quiver_trainer* trainer, const quiver_train_batch* batch,
                                      quiver_train_stats* out, quiver_error* err);
/* Backward, clipping and one AdamW update at learning rate `lr`. */
quiver_status quiver_trainer_step(quiver_trainer* trainer, const quiver_train_batch* batch,
                                  float lr, quiver_train_stats* out, quiver_error* err);
/* The AdamW step count (for bias correction), set when resuming from a checkpoint. */
quiver_status quiver_trainer_set_step(quiver_trainer* trainer, int64_t step, quiver_error* err);

/* ---- measurement helpers for `quiver bench engine` ---- */

/* Reads `bytes` of memory with all engine threads, `repeats` times; returns the fastest
 * pass in GB/s (1e9). */
quiver_status quiver_engine_measure_bandwidth(quiver_engine* engine, int64_t bytes, int32_t repeats,
                                              double* out_gbps, quiver_error* err);

/* f32 multiply-add throughput with all engine threads: the fastest of `repeats` passes of
 * about `seconds` each, in GFLOP/s (a multiply-add counts as 2). UNSUPPORTED on backends
 * without a probe (CUDA, the reference). */
quiver_status quiver_engine_measure_compute(quiver_engine* engine, double seconds, int32_t repeats,
                                            double* out_gflops, quiver_error* err);

/* ---- tests only: the fault hook (backends/fault_backend.h) ----
 * Inert unless the engine was opened with test_faults = 1; INVALID_ARGUMENT otherwise. */

typedef struct quiver_test_faults {
  int32_t fail_alloc;   /* -1 off; n >= 0: the backend allocation after the next n fails (OUT_OF_MEMORY), once */
  int32_t fail_upload;  /* -1 off; n >= 0: the adapter module upload after the next n fails (OUT_OF_MEMORY), once */
  int32_t logit_index;  /* -1 off; else every logits row gets logit_value at this token, before sampling */
  float logit_value;
} quiver_test_faults;

/* Replaces the armed faults. */
quiver_status quiver_engine_test_faults(quiver_engine* engine, const quiver_test_faults* faults, quiver_error* err);

typedef struct quiver_engine_test_state {
  int64_t live_allocations;  /* backend allocations the engine holds (weights, caches, buffers, adapters) */
  int64_t live_bytes;        /* their bytes */
  int32_t step_passes;       /* forward passes the last step ran */
  int32_t step_max_rows;     /* rows (tokens) of its largest pass */
  int64_t lora_scratch_bytes;/* the device backend: what the last pass asked for its LoRA scratch (0 elsewhere) */
  int64_t score_bytes;       /* the device backend: what the last pass asked for its attention scores (0 elsewhere) */
} quiver_engine_test_state;

quiver_status quiver_engine_test_state_get(const quiver_engine* engine, quiver_engine_test_state* out,
                                           quiver_error* err);

/* Whether this build includes the CUDA backend, and whether a GPU answers (with why not). */
int32_t quiver_cuda_compiled(void);
int32_t quiver_cuda_available(char* reason, size_t reason_len);
/* 1 when cuBLAS loads for `setting` (as the cublas option; needs no GPU), with its version
   and path in out; 0 with the reason. */
int32_t quiver_cublas_status(const char* setting, char* out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif /* QUIVER_H */
