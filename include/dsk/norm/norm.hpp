// dsk/norm/norm.hpp — RMSNorm (with / without weight), residual add, fused residual add + RMSNorm.
//
// NUMERICS (the contract a kernel implements; one row of n values per token, rows independent):
//   ss   = order::vector_sum<kNT>(n, i -> fp::mul(x_i, x_i))       kNT = 256 (one block per row)
//   mean = fp::div(ss, float(n))                                     float(n): fp::from_int, exact
//   r    = fp::div(1.0f, fp::sqrt(fp::add(mean, eps)))
//   y_i  = fp::mul(x_i, r)                  without weight
//   y_i  = fp::mul(fp::mul(x_i, r), w_i)    with weight
// Residual add: s_i = fp::add(a_i, b_i). Fused add + norm: s_i = fp::add(a_i, b_i) for the whole row
// first, then RMSNorm of s (the sum is also written out, and may alias a or b; y may alias s).
// Non-finite values propagate (a NaN or inf in a row makes its ss non-finite: the row is NaN, inf
// rows give 0*inf = NaN or x/inf = 0 per IEEE); n = 0 is rejected.
#pragma once

#include <cstdint>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/core/status.hpp"

namespace dsk::norm {

// Threads of the row kernel; fixes the order of the sum of squares (core/reduce.hpp, vector sum).
inline constexpr int kNT = 256;

// y[t, :] = RMSNorm(x[t, :]) (* w). Strides are in elements (0: packed, = n). y may alias x.
struct RmsNormParams {
  const float* x = nullptr;
  const float* w = nullptr;  // [n] or nullptr (no weight)
  float* y = nullptr;
  int64_t T = 0;             // rows (tokens)
  int64_t n = 0;             // row length
  int64_t x_stride = 0;
  int64_t y_stride = 0;
  float eps = 1e-6f;
};

// y[t, :] = a[t, :] + b[t, :]. y may alias a or b.
struct AddParams {
  const float* a = nullptr;
  const float* b = nullptr;
  float* y = nullptr;
  int64_t T = 0, n = 0;
  int64_t a_stride = 0, b_stride = 0, y_stride = 0;
};

// s[t, :] = a[t, :] + b[t, :];  y[t, :] = RMSNorm(s[t, :]) (* w). s may alias a or b; y may alias s.
struct AddRmsNormParams {
  const float* a = nullptr;
  const float* b = nullptr;
  const float* w = nullptr;  // [n] or nullptr
  float* s = nullptr;
  float* y = nullptr;
  int64_t T = 0, n = 0;
  int64_t a_stride = 0, b_stride = 0, s_stride = 0, y_stride = 0;
  float eps = 1e-6f;
};

// --- per-row math, shared with kernels ----------------------------------------------------------

// r = 1 / sqrt(ss / n + eps) from the (canonically ordered) sum of squares.
DSK_HD float rms_inv(float ss, int64_t n, float eps) {
  const float mean = fp::div(ss, fp::from_int(static_cast<int32_t>(n)));
  return fp::div(1.0f, fp::sqrt(fp::add(mean, eps)));
}

// The whole row on one thread in the order of an NT-thread kernel: returns r.
template <int NT>
DSK_HD float rms_inv_row(const float* x, int64_t n, float eps) {
  const float ss = order::vector_sum<NT>(n, [&](int64_t i) { return fp::mul(x[i], x[i]); });
  return rms_inv(ss, n, eps);
}

DSK_HD float rms_apply(float x, float r) { return fp::mul(x, r); }
DSK_HD float rms_apply(float x, float r, float w) { return fp::mul(fp::mul(x, r), w); }

// Row length limit: float(n) must be exact and n fit the int32 conversion.
inline constexpr int64_t kMaxN = int64_t{1} << 24;

namespace detail {
inline Status check_rows(int64_t T, int64_t n) {
  if (T < 0) return Status::Invalid("norm: T < 0");
  if (n <= 0) return Status::Invalid("norm: n must be > 0");
  if (n > kMaxN) return Status::Unsupported("norm: n > 2^24");
  return Status::Ok();
}
inline bool bad_stride(int64_t s, int64_t n) { return s != 0 && s < n; }
inline bool bad_eps(float eps) { return !(eps >= 0.0f) || !fp::is_finite(eps); }
}  // namespace detail

inline Status validate(const RmsNormParams& p) {
  if (Status s = detail::check_rows(p.T, p.n); !s.ok()) return s;
  if (p.T > 0 && (!p.x || !p.y)) return Status::Invalid("rms_norm: null x or y");
  if (detail::bad_stride(p.x_stride, p.n) || detail::bad_stride(p.y_stride, p.n))
    return Status::Invalid("rms_norm: stride < n");
  if (detail::bad_eps(p.eps)) return Status::Invalid("rms_norm: eps must be finite and >= 0");
  return Status::Ok();
}

inline Status validate(const AddParams& p) {
  if (Status s = detail::check_rows(p.T, p.n); !s.ok()) return s;
  if (p.T > 0 && (!p.a || !p.b || !p.y)) return Status::Invalid("add: null pointer");
  if (detail::bad_stride(p.a_stride, p.n) || detail::bad_stride(p.b_stride, p.n) ||
      detail::bad_stride(p.y_stride, p.n))
    return Status::Invalid("add: stride < n");
  return Status::Ok();
}

inline Status validate(const AddRmsNormParams& p) {
  if (Status s = detail::check_rows(p.T, p.n); !s.ok()) return s;
  if (p.T > 0 && (!p.a || !p.b || !p.s || !p.y)) return Status::Invalid("add_rms_norm: null pointer");
  if (detail::bad_stride(p.a_stride, p.n) || detail::bad_stride(p.b_stride, p.n) ||
      detail::bad_stride(p.s_stride, p.n) || detail::bad_stride(p.y_stride, p.n))
    return Status::Invalid("add_rms_norm: stride < n");
  if (detail::bad_eps(p.eps)) return Status::Invalid("add_rms_norm: eps must be finite and >= 0");
  return Status::Ok();
}

}  // namespace dsk::norm
