// Internal error values: a code from quiver.h plus a message. Engine code returns Status
// instead of throwing; the C API copies it into quiver_error.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <string>

#include "../include/quiver.h"

namespace quiver {

struct Status {
  quiver_status code = QUIVER_OK;
  std::string message;

  bool ok() const { return code == QUIVER_OK; }
  static Status Ok() { return {}; }
};

// printf-style constructor: Error(QUIVER_ERR_SHAPE_MISMATCH, "%s is (%d, %d)", ...).
inline Status Error(quiver_status code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
inline Status Error(quiver_status code, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return Status{code, buf};
}

// Prefixes a context ("adapter /x: ") to a failed status.
inline Status WithContext(Status s, const std::string& context) {
  if (!s.ok()) s.message = context + s.message;
  return s;
}

#define QUIVER_TRY(expr)              \
  do {                                \
    ::quiver::Status _s = (expr);     \
    if (!_s.ok()) return _s;          \
  } while (0)

}  // namespace quiver
