#include "cublas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace quiver {

CublasChoice cublas_choice(const std::string& setting, std::string* path) {
  std::string v = setting;
  if (v.empty()) {
    const char* env = std::getenv("QUIVER_CUBLAS");
    v = env ? env : "";
  }
  if (v.empty() || v == "auto") return CublasChoice::kAuto;
  if (v == "0" || v == "off") return CublasChoice::kOff;
  if (v == "emulate") return CublasChoice::kEmulate;
  if (path) *path = v;
  return CublasChoice::kPath;
}

namespace {

// cuBLAS's ABI as used here (cublas_api.h, library_types.h): statuses and enums are ints,
// a handle is a pointer.
constexpr int kOpN = 0, kOpT = 1;
constexpr int kDefaultMath = 0;
constexpr int kMajor = 0, kMinor = 1, kPatch = 2;

}  // namespace

std::shared_ptr<const Cublas> Cublas::load(const std::string& setting, std::string* why_not) {
  std::string path;
  const CublasChoice choice = cublas_choice(setting, &path);
  // Each library is looked up once and kept: its handles may outlive any one engine.
  static std::mutex mu;
  static std::map<std::string, std::pair<std::shared_ptr<const Cublas>, std::string>> seen;
  const std::string key = std::to_string((int)choice) + path;
  std::lock_guard<std::mutex> lock(mu);
  auto it = seen.find(key);
  if (it == seen.end()) {
    std::string why;
    std::shared_ptr<const Cublas> cb = open_library(choice, path, &why);
    it = seen.emplace(key, std::make_pair(cb, why)).first;
  }
  if (!it->second.first && why_not) *why_not = it->second.second;
  return it->second.first;
}

std::shared_ptr<const Cublas> Cublas::open_library(CublasChoice choice, const std::string& path, std::string* why_not) {
  if (choice == CublasChoice::kOff || choice == CublasChoice::kEmulate) {
    *why_not = choice == CublasChoice::kOff ? "cuBLAS turned off (cublas off)" : "cuBLAS emulated on the host (cublas emulate)";
    return nullptr;
  }
  std::vector<std::string> candidates;
  if (choice == CublasChoice::kPath) {
    candidates.push_back(path);
  } else {
    // the dynamic linker's search first (""), then the CUDA toolkit's folders
    std::vector<std::string> dirs{""};
    if (const char* home = std::getenv("CUDA_HOME")) dirs.push_back(std::string(home) + "/lib64/");
    dirs.push_back("/usr/local/cuda/lib64/");
    for (const std::string& d : dirs)
      for (const char* name : {"libcublas.so.13", "libcublas.so.12", "libcublas.so"}) candidates.push_back(d + name);
  }
  std::string errors;
  for (const std::string& c : candidates) {
    void* lib = dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      if (choice == CublasChoice::kPath) errors = dlerror();
      continue;
    }
    auto sym = [&](const char* name) { return dlsym(lib, name); };
    auto cb = std::shared_ptr<Cublas>(new Cublas());
    cb->lib_ = lib;
    cb->create_ = reinterpret_cast<CreateFn>(sym("cublasCreate_v2"));
    cb->destroy_ = reinterpret_cast<DestroyFn>(sym("cublasDestroy_v2"));
    cb->set_stream_ = reinterpret_cast<SetStreamFn>(sym("cublasSetStream_v2"));
    cb->set_math_mode_ = reinterpret_cast<SetMathModeFn>(sym("cublasSetMathMode"));
    cb->status_string_ = reinterpret_cast<StatusStringFn>(sym("cublasGetStatusString"));
    cb->sgemm_ = reinterpret_cast<SgemmFn>(sym("cublasSgemm_v2"));
    auto get_property = reinterpret_cast<GetPropertyFn>(sym("cublasGetProperty"));
    if (!cb->create_ || !cb->destroy_ || !cb->set_stream_ || !cb->set_math_mode_ || !cb->sgemm_ || !get_property) {
      dlclose(lib);
      errors = c + " is not cuBLAS (cublasCreate_v2, cublasSgemm_v2 or another entry point is missing)";
      if (choice == CublasChoice::kPath) break;
      continue;
    }
    int major = 0, minor = 0, patch = 0;
    get_property(kMajor, &major);
    get_property(kMinor, &minor);
    get_property(kPatch, &patch);
    cb->describe_ = "cuBLAS " + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch) + " (" + c + ")";
    return cb;
  }
  if (choice == CublasChoice::kPath)
    *why_not = "cuBLAS at " + path + " could not be loaded: " + (errors.empty() ? "unknown error" : errors);
  else
    *why_not = errors.empty() ? "libcublas not found (set QUIVER_CUBLAS to its path)" : errors;
  return nullptr;
}

void* Cublas::create(void* stream, std::string* why_not) const {
  void* h = nullptr;
  int st = create_(&h);
  if (st == 0) st = set_stream_(h, stream);
  // f32 arithmetic, as the other devices compute (TF32 tensor cores only where the user's
  // NVIDIA_TF32_OVERRIDE=1 asks for them)
  if (st == 0) st = set_math_mode_(h, kDefaultMath);
  if (st != 0) {
    if (h) destroy_(h);
    if (why_not) *why_not = "cublasCreate failed: " + status_text(st);
    return nullptr;
  }
  return h;
}

void Cublas::destroy(void* handle) const {
  if (handle) destroy_(handle);
}

int Cublas::sgemm(void* handle, const dev::BlasGemm& g) const {
  return sgemm_(handle, g.ta ? kOpT : kOpN, g.tb ? kOpT : kOpN, g.m, g.n, g.k, &g.alpha, g.a, g.lda, g.b, g.ldb, &g.beta, g.c,
                g.ldc);
}

std::string Cublas::status_text(int status) const {
  const char* s = status_string_ ? status_string_(status) : nullptr;
  return std::string(s ? s : "cuBLAS error") + " (status " + std::to_string(status) + ")";
}

}  // namespace quiver
