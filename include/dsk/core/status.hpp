// dsk/core/status.hpp — the error value every host launcher returns, and CUDA check macros.
//
// Launchers take a cudaStream_t, never allocate behind the caller's back, never synchronize, never
// exit and never throw: they return a Status. An unsupported shape or option is an error value
// (kUnsupported), never a silent no-op. Tools and tests that prefer exceptions use DSK_CUDA_CHECK.
#pragma once

#include <stdexcept>
#include <string>

// The CUDA parts (Status::Cuda, the check macros) are compiled by nvcc, or in host code that links
// the CUDA runtime and defines DSK_CUDA_RUNTIME.
#if defined(__CUDACC__) || defined(DSK_CUDA_RUNTIME)
#include <cuda_runtime_api.h>
#define DSK_HAVE_CUDA_RUNTIME_HEADER 1
#else
#define DSK_HAVE_CUDA_RUNTIME_HEADER 0
#endif

namespace dsk {

struct [[nodiscard]] Status {
  enum Code : int {
    kOk = 0,
    kInvalidArgument,  // null pointer, negative size, inconsistent strides
    kUnsupported,      // a valid request this build has no kernel for (shape, type, option)
    kWorkspaceTooSmall,
    kCudaError,        // cuda_error holds the runtime's code
  };
  Code code = kOk;
  int cuda_error = 0;       // cudaError_t value when code == kCudaError
  const char* what = "";    // static string: what failed

  constexpr bool ok() const { return code == kOk; }
  static constexpr Status Ok() { return {}; }
  static constexpr Status Invalid(const char* w) { return {kInvalidArgument, 0, w}; }
  static constexpr Status Unsupported(const char* w) { return {kUnsupported, 0, w}; }
  static constexpr Status Workspace(const char* w) { return {kWorkspaceTooSmall, 0, w}; }
#if DSK_HAVE_CUDA_RUNTIME_HEADER
  static Status Cuda(cudaError_t e, const char* w) {
    return e == cudaSuccess ? Status{} : Status{kCudaError, static_cast<int>(e), w};
  }
#endif
};

inline const char* status_code_name(Status::Code c) {
  switch (c) {
    case Status::kOk: return "ok";
    case Status::kInvalidArgument: return "invalid argument";
    case Status::kUnsupported: return "unsupported";
    case Status::kWorkspaceTooSmall: return "workspace too small";
    case Status::kCudaError: return "CUDA error";
  }
  return "unknown";
}

inline std::string to_string(const Status& s) {
  std::string out = status_code_name(s.code);
  if (s.what && *s.what) out += std::string(": ") + s.what;
#if DSK_HAVE_CUDA_RUNTIME_HEADER
  if (s.code == Status::kCudaError)
    out += std::string(" (") + cudaGetErrorString(static_cast<cudaError_t>(s.cuda_error)) + ")";
#endif
  return out;
}

}  // namespace dsk

#if DSK_HAVE_CUDA_RUNTIME_HEADER
// Inside a launcher: return the error of a CUDA call as a Status.
#define DSK_CUDA_RETURN_IF_ERROR(call)                                        \
  do {                                                                        \
    const cudaError_t dsk_err_ = (call);                                      \
    if (dsk_err_ != cudaSuccess) return ::dsk::Status::Cuda(dsk_err_, #call); \
  } while (0)

// After a kernel launch inside a launcher: report a launch failure (bad configuration etc.).
#define DSK_RETURN_IF_LAUNCH_FAILED(what)                                  \
  do {                                                                     \
    const cudaError_t dsk_err_ = cudaGetLastError();                       \
    if (dsk_err_ != cudaSuccess) return ::dsk::Status::Cuda(dsk_err_, what); \
  } while (0)

// In tools and tests: throw with file, line and the runtime's message.
#define DSK_CUDA_CHECK(call)                                                                    \
  do {                                                                                          \
    const cudaError_t dsk_err_ = (call);                                                        \
    if (dsk_err_ != cudaSuccess)                                                                \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + \
                               #call + ": " + cudaGetErrorString(dsk_err_));                    \
  } while (0)
#endif

// Inside a launcher: return a callee's error Status as it is.
#define DSK_RETURN_IF_ERROR(expr)              \
  do {                                         \
    const ::dsk::Status dsk_st_ = (expr);      \
    if (!dsk_st_.ok()) return dsk_st_;         \
  } while (0)

// In tools and tests: throw when a launcher returned an error.
#define DSK_CHECK_STATUS(expr)                                                                        \
  do {                                                                                                \
    const ::dsk::Status dsk_st_ = (expr);                                                             \
    if (!dsk_st_.ok())                                                                                \
      throw std::runtime_error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #expr + \
                               ": " + ::dsk::to_string(dsk_st_));                                     \
  } while (0)
