// safetensors reader (see safetensors.h).
#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <unordered_set>

#include "json.h"

namespace quiver {

namespace {
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own limit

size_t dtype_size(Dtype d) {
  switch (d) {
    case Dtype::F32: return 4;
    case Dtype::F16: case Dtype::BF16: return 2;
    default: return 0;
  }
}

size_t other_dtype_size(const std::string& name) {
  if (name == "F64" || name == "I64" || name == "U64") return 8;
  if (name == "I32" || name == "U32") return 4;
  if (name == "I16" || name == "U16") return 2;
  if (name == "I8" || name == "U8" || name == "BOOL" || name == "F8_E4M3" || name == "F8_E5M2") return 1;
  return 0;
}
}  // namespace

float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) { mant <<= 1; --exp; }
      mant &= 0x3FF;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_f32(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

Status SafetensorsFile::open(const std::string& path, std::unique_ptr<SafetensorsFile>* out) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Error(QUIVER_ERR_FILE_MISSING, "cannot open %s", path.c_str());
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error(QUIVER_ERR_FILE_MISSING, "%s is not a regular file", path.c_str());
  }
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->file_size_ = (size_t)st.st_size;
  if (f->file_size_ < 8) {
    ::close(fd);
    return Error(QUIVER_ERR_FILE_CORRUPT, "%s: %zu bytes is too short for a safetensors file", path.c_str(), f->file_size_);
  }
  void* m = mmap(nullptr, f->file_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return Error(QUIVER_ERR_FILE_MISSING, "cannot map %s", path.c_str());
  f->map_ = static_cast<const uint8_t*>(m);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | f->map_[i];
  if (header_len > kMaxHeaderBytes || header_len > f->file_size_ - 8)
    return Error(QUIVER_ERR_FILE_CORRUPT, "%s: header length %llu does not fit the file (%zu bytes)",
                 path.c_str(), (unsigned long long)header_len, f->file_size_);
  Json header;
  QUIVER_TRY(WithContext(json_parse(reinterpret_cast<const char*>(f->map_ + 8), header_len, &header),
                         path + ": header: "));
  if (!header.is_object()) return Error(QUIVER_ERR_FILE_CORRUPT, "%s: header is not a JSON object", path.c_str());
  f->data_ = f->map_ + 8 + header_len;
  const uint64_t data_size = f->file_size_ - 8 - header_len;

  std::unordered_set<std::string> names;
  for (const auto& kv : header.object) {
    if (kv.first == "__metadata__") continue;
    if (!names.insert(kv.first).second)
      return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s appears twice in the header", path.c_str(), kv.first.c_str());
    const Json& e = kv.second;
    const Json* dtype = e.get("dtype");
    const Json* shape = e.get("shape");
    const Json* offs = e.get("data_offsets");
    if (!dtype || !dtype->is_string() || !shape || !shape->is_array() || !offs || !offs->is_array() ||
        offs->array.size() != 2 || !offs->array[0].is_integer() || !offs->array[1].is_integer())
      return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s has a malformed header entry", path.c_str(), kv.first.c_str());
    TensorInfo t;
    t.name = kv.first;
    t.dtype_name = dtype->string;
    t.dtype = t.dtype_name == "F32" ? Dtype::F32 : t.dtype_name == "F16" ? Dtype::F16
            : t.dtype_name == "BF16" ? Dtype::BF16 : Dtype::Other;
    t.elements = 1;
    for (const Json& d : shape->array) {
      if (!d.is_integer() || d.number < 0)
        return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s has a bad dimension", path.c_str(), t.name.c_str());
      t.shape.push_back((int64_t)d.number);
      if (__builtin_mul_overflow(t.elements, t.shape.back(), &t.elements))
        return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s: the element count of its shape passes 2^63", path.c_str(),
                     t.name.c_str());
    }
    if (offs->array[0].number < 0 || offs->array[1].number < offs->array[0].number)
      return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s has bad data offsets", path.c_str(), t.name.c_str());
    t.begin = (uint64_t)offs->array[0].number;
    t.end = (uint64_t)offs->array[1].number;
    if (t.end > data_size)
      return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s ends at byte %llu but the data section has %llu bytes (truncated file?)",
                   path.c_str(), t.name.c_str(), (unsigned long long)t.end, (unsigned long long)data_size);
    size_t esize = t.dtype != Dtype::Other ? dtype_size(t.dtype) : other_dtype_size(t.dtype_name);
    if (esize == 0)
      return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s has unknown dtype %s", path.c_str(), t.name.c_str(), t.dtype_name.c_str());
    int64_t bytes = 0;
    if (__builtin_mul_overflow(t.elements, (int64_t)esize, &bytes))
      return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s: the byte count of its shape passes 2^63", path.c_str(),
                   t.name.c_str());
    if ((uint64_t)bytes != t.end - t.begin)
      return Error(QUIVER_ERR_FILE_CORRUPT, "%s: tensor %s has %llu bytes for %lld elements of %s",
                   path.c_str(), t.name.c_str(), (unsigned long long)(t.end - t.begin), (long long)t.numel(), t.dtype_name.c_str());
    f->tensors_.push_back(std::move(t));
  }
  *out = std::move(f);
  return Status::Ok();
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) munmap(const_cast<uint8_t*>(map_), file_size_);
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

Status SafetensorsFile::read_f32(const TensorInfo& t, float* out) const {
  const uint8_t* src = data_ + t.begin;
  const int64_t n = t.numel();
  switch (t.dtype) {
    case Dtype::F32:
      std::memcpy(out, src, (size_t)n * 4);
      return Status::Ok();
    case Dtype::F16:
      for (int64_t i = 0; i < n; ++i) out[i] = f16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
      return Status::Ok();
    case Dtype::BF16:
      for (int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32((uint16_t)(src[2 * i] | (src[2 * i + 1] << 8)));
      return Status::Ok();
    default:
      return Error(QUIVER_ERR_DTYPE, "%s: tensor %s is %s; the engine reads F32, F16 and BF16",
                   path_.c_str(), t.name.c_str(), t.dtype_name.c_str());
  }
}

}  // namespace quiver
