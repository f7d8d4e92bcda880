// Reader for the safetensors format: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// data. The file is memory-mapped; every offset and size is checked against the file before
// anything is read, so a truncated or corrupt file yields FILE_CORRUPT, never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "status.h"

namespace quiver {

enum class Dtype { F32, F16, BF16, Other };

struct TensorInfo {
  std::string name;
  Dtype dtype = Dtype::Other;
  std::string dtype_name;       // as written in the header, e.g. "BF16"
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range inside the data section
  int64_t elements = 0;         // the product of shape, checked against overflow when the header was read
  int64_t numel() const { return elements; }
};

class SafetensorsFile {
 public:
  // Maps and validates `path`: FILE_MISSING when it cannot be opened, FILE_CORRUPT when the
  // header or an offset is wrong, a tensor name appears twice, or a shape's element or byte
  // count passes 2^63.
  static Status open(const std::string& path, std::unique_ptr<SafetensorsFile>* out);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;

  // Converts the tensor to f32 into out (numel floats): DTYPE for dtypes other than
  // F32/F16/BF16.
  Status read_f32(const TensorInfo& t, float* out) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  const uint8_t* map_ = nullptr;  // (file_size) bytes
  size_t file_size_ = 0;
  const uint8_t* data_ = nullptr; // start of the data section
  std::vector<TensorInfo> tensors_;
};

// IEEE half and bfloat16 to float.
float f16_to_f32(uint16_t h);
float bf16_to_f32(uint16_t b);

}  // namespace quiver
