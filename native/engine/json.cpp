// Recursive-descent JSON reader (see json.h).
#include "json.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace quiver {

const Json* Json::get(const std::string& key) const {
  if (kind != Kind::Object) return nullptr;
  for (const auto& kv : object)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

bool Json::is_integer() const {
  return kind == Kind::Number && std::floor(number) == number && std::fabs(number) < 9.0e15;
}

namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  Parser(const char* text, size_t len) : p_(text), begin_(text), end_(text + len) {}

  Status parse(Json* out) {
    QUIVER_TRY(value(out, 0));
    skip_ws();
    if (p_ != end_) return fail("trailing characters after the JSON value");
    return Status::Ok();
  }

 private:
  const char* p_;
  const char* begin_;
  const char* end_;

  Status fail(const char* what) const {
    return Error(QUIVER_ERR_FILE_CORRUPT, "malformed JSON at byte %zu: %s", (size_t)(p_ - begin_), what);
  }
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool literal(const char* word) {
    size_t n = std::strlen(word);
    if ((size_t)(end_ - p_) < n || std::memcmp(p_, word, n) != 0) return false;
    p_ += n;
    return true;
  }

  Status value(Json* out, int depth) {
    if (depth > kMaxDepth) return fail("nesting too deep");
    skip_ws();
    if (p_ >= end_) return fail("unexpected end of input");
    char c = *p_;
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      out->kind = Json::Kind::String;
      return string(&out->string);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(out);
    if (literal("true")) { out->kind = Json::Kind::Bool; out->boolean = true; return Status::Ok(); }
    if (literal("false")) { out->kind = Json::Kind::Bool; out->boolean = false; return Status::Ok(); }
    if (literal("null")) { out->kind = Json::Kind::Null; return Status::Ok(); }
    return fail("unexpected character");
  }

  Status object(Json* out, int depth) {
    out->kind = Json::Kind::Object;
    ++p_;  // '{'
    skip_ws();
    if (p_ < end_ && *p_ == '}') { ++p_; return Status::Ok(); }
    for (;;) {
      skip_ws();
      if (p_ >= end_ || *p_ != '"') return fail("expected a member name");
      std::string key;
      QUIVER_TRY(string(&key));
      skip_ws();
      if (p_ >= end_ || *p_ != ':') return fail("expected ':'");
      ++p_;
      Json v;
      QUIVER_TRY(value(&v, depth + 1));
      out->object.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (p_ < end_ && *p_ == ',') { ++p_; continue; }
      if (p_ < end_ && *p_ == '}') { ++p_; return Status::Ok(); }
      return fail("expected ',' or '}'");
    }
  }

  Status array(Json* out, int depth) {
    out->kind = Json::Kind::Array;
    ++p_;  // '['
    skip_ws();
    if (p_ < end_ && *p_ == ']') { ++p_; return Status::Ok(); }
    for (;;) {
      Json v;
      QUIVER_TRY(value(&v, depth + 1));
      out->array.push_back(std::move(v));
      skip_ws();
      if (p_ < end_ && *p_ == ',') { ++p_; continue; }
      if (p_ < end_ && *p_ == ']') { ++p_; return Status::Ok(); }
      return fail("expected ',' or ']'");
    }
  }

  static void put_utf8(std::string* s, unsigned cp) {
    if (cp < 0x80) {
      s->push_back((char)cp);
    } else if (cp < 0x800) {
      s->push_back((char)(0xC0 | (cp >> 6)));
      s->push_back((char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back((char)(0xE0 | (cp >> 12)));
      s->push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back((char)(0x80 | (cp & 0x3F)));
    } else {
      s->push_back((char)(0xF0 | (cp >> 18)));
      s->push_back((char)(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back((char)(0x80 | (cp & 0x3F)));
    }
  }

  Status hex4(unsigned* out) {
    if (end_ - p_ < 4) return fail("short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = *p_++;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
      else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
      else return fail("bad hex digit in \\u escape");
    }
    *out = v;
    return Status::Ok();
  }

  Status string(std::string* out) {
    ++p_;  // opening quote
    for (;;) {
      if (p_ >= end_) return fail("unterminated string");
      char c = *p_++;
      if (c == '"') return Status::Ok();
      if ((unsigned char)c < 0x20) return fail("control character in string");
      if (c != '\\') { out->push_back(c); continue; }
      if (p_ >= end_) return fail("unterminated escape");
      char e = *p_++;
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          unsigned cp = 0;
          QUIVER_TRY(hex4(&cp));
          if (cp >= 0xD800 && cp < 0xDC00) {  // a surrogate pair
            unsigned lo = 0;
            if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return fail("lone high surrogate");
            p_ += 2;
            QUIVER_TRY(hex4(&lo));
            if (lo < 0xDC00 || lo >= 0xE000) return fail("bad low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return fail("lone low surrogate");
          }
          put_utf8(out, cp);
          break;
        }
        default: return fail("bad escape");
      }
    }
  }

  Status number(Json* out) {
    const char* start = p_;
    if (*p_ == '-') ++p_;
    if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return fail("bad number");
    if (*p_ == '0') ++p_;
    else while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return fail("bad fraction");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ >= end_ || !(*p_ >= '0' && *p_ <= '9')) return fail("bad exponent");
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    std::string digits(start, p_);
    out->kind = Json::Kind::Number;
    out->number = std::strtod(digits.c_str(), nullptr);
    return Status::Ok();
  }
};

}  // namespace

Status json_parse(const char* text, size_t len, Json* out) {
  *out = Json();
  return Parser(text, len).parse(out);
}

Status json_read_file(const std::string& path, Json* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error(QUIVER_ERR_FILE_MISSING, "cannot open %s", path.c_str());
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  return WithContext(json_parse(text.data(), text.size(), out), path + ": ");
}

}  // namespace quiver
