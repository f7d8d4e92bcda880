// A small JSON reader for the files the engine opens: config.json, adapter_config.json,
// the safetensors header and the shard index. Strict RFC 8259 syntax, depth-limited, no
// writer. Numbers are doubles (the headers' byte offsets stay below 2^53).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "status.h"

namespace quiver {

class Json {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;  // in file order

  bool is_null() const { return kind == Kind::Null; }
  bool is_number() const { return kind == Kind::Number; }
  bool is_string() const { return kind == Kind::String; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_object() const { return kind == Kind::Object; }
  bool is_bool() const { return kind == Kind::Bool; }

  // The member named `key`, or nullptr (also when this is not an object).
  const Json* get(const std::string& key) const;
  // Whether this number is an integer that fits in int64.
  bool is_integer() const;
};

// Parses `text`; on failure the status is FILE_CORRUPT with the byte offset.
Status json_parse(const char* text, size_t len, Json* out);
// Reads and parses a file: FILE_MISSING when it cannot be opened.
Status json_read_file(const std::string& path, Json* out);

}  // namespace quiver
