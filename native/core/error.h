// Typed errors of the native core. Kernels throw nt::Error; the single guard in
// native/napi converts it to a JS error with `code` (see API.md error codes).
// Nothing in the core may abort() or let another exception type escape silently.
#pragma once
#include <stdexcept>
#include <string>
#include <sstream>

namespace nt {

enum class ErrorCode {
  Shape,        // NT_SHAPE: wrong rank / extents / broadcast mismatch
  DType,        // NT_DTYPE: unsupported or mismatched dtype
  Value,        // NT_VALUE: out-of-range option, NaN where refused
  Disposed,     // NT_DISPOSED: tensor or handle used after dispose()
  Unsupported,  // NT_UNSUPPORTED: valid request this build/backend cannot do
  OOM,          // NT_OOM: allocation failed
  Cuda,         // NT_CUDA: CUDA runtime failure
  IO,           // NT_IO: file missing, malformed, truncated
  Numeric,      // NT_NUMERIC: numerical failure (non-SPD, no convergence)
  Internal,     // NT_INTERNAL: a bug in ntensor
};

inline const char* error_code_name(ErrorCode c) {
  switch (c) {
    case ErrorCode::Shape: return "NT_SHAPE";
    case ErrorCode::DType: return "NT_DTYPE";
    case ErrorCode::Value: return "NT_VALUE";
    case ErrorCode::Disposed: return "NT_DISPOSED";
    case ErrorCode::Unsupported: return "NT_UNSUPPORTED";
    case ErrorCode::OOM: return "NT_OOM";
    case ErrorCode::Cuda: return "NT_CUDA";
    case ErrorCode::IO: return "NT_IO";
    case ErrorCode::Numeric: return "NT_NUMERIC";
    case ErrorCode::Internal: return "NT_INTERNAL";
  }
  return "NT_INTERNAL";
}

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// fail(ErrorCode::Shape, "[matmul] expected 2-D, got ", ndim) — message parts are streamed.
template <typename... Parts>
[[noreturn]] inline void fail(ErrorCode code, const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(code, os.str());
}

}  // namespace nt

#define NT_CHECK(cond, code, ...) \
  do {                            \
    if (!(cond)) ::nt::fail(::nt::ErrorCode::code, __VA_ARGS__); \
  } while (0)
