// dsk/rope/rope.hpp — per-head RMSNorm (optional) + rotary embedding of a span of each head, with
// YaRN, from a host-built cos/sin table; inverse rotation; the MLA kq scale.
//
// NUMERICS (per token t, per head h; tokens and heads independent):
//  1. Optional per-head RMSNorm over the whole head (head_dim values), in the norm family's formula
//     (dsk/norm/norm.hpp) with kHeadNT = 32 (one warp per head) for the sum of squares:
//       ss = vector_sum<32>(x_i*x_i); r = 1/sqrt(ss/head_dim + eps); x_i = x_i*r (*w_i).
//  2. Rotation of the span [rope_offset, rope_offset + rope_dims) at position pos[t], pair i in
//     0..rope_dims/2-1 with (c, s) = table(pos, i) (s negated for the inverse, exact):
//       interleaved (ggml NORM, DeepSeek): (x0, x1) = (x[o+2i], x[o+2i+1])
//       neox:                              (x0, x1) = (x[o+i],  x[o+i+rope_dims/2])
//       y0 = fp::sub(fp::mul(x0, c), fp::mul(x1, s));  y1 = fp::add(fp::mul(x0, s), fp::mul(x1, c))
//     Elements outside the span are copied (after the optional norm).
// The table is the one source of the angles: make_table() evaluates ggml's rope_yarn in float64
// (theta_ext = p * base^(-2i/n_dims), YaRN ramp between the corr dims, mscale) with std::cos /
// std::sin and rounds cos*mscale and sin*mscale to float once. Both backends read the table.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "dsk/core/config.hpp"
#include "dsk/core/fp.hpp"
#include "dsk/core/reduce.hpp"
#include "dsk/core/status.hpp"
#include "dsk/norm/norm.hpp"

namespace dsk::rope {

inline constexpr int kHeadNT = 32;  // threads per head of the per-head norm (its sum order)

enum class Mode : int { interleaved = 0, neox = 2 };          // ggml's NORM = 0, NEOX = 2
enum class HeadNorm : int { none = 0, weightless, weighted };

// YaRN / RoPE parameters, as ggml_rope_ext takes them.
struct YarnConfig {
  int n_dims = 64;            // rotated dims (the table has n_dims/2 pairs)
  int n_ctx_orig = 4096;      // original training context (corr dims)
  double freq_base = 10000.0;
  double freq_scale = 1.0;    // 1/factor
  double ext_factor = 0.0;    // 0: no YaRN ramp (plain RoPE or linear scaling); 1: YaRN
  double attn_factor = 1.0;   // ggml's mscale input; deepseek2 passes 1/(1 + 0.1 ln(factor))
  double beta_fast = 32.0;
  double beta_slow = 1.0;
};

// cos/sin for positions 0..n_pos-1: cs[(p * (n_dims/2) + i) * 2 + 0] = cos, + 1 = sin.
struct RopeTable {
  const float* cs = nullptr;
  int64_t n_pos = 0;
  int n_dims = 0;
};

// In-place or out-of-place over x [T, n_head, head_dim] (strides in elements).
struct Params {
  const float* x = nullptr;
  float* y = nullptr;        // may equal x (in place)
  const int32_t* pos = nullptr;  // [T], each in [0, table.n_pos)
  RopeTable table;
  int64_t T = 0;
  int64_t n_head = 1;
  int64_t head_dim = 0;
  int64_t x_token_stride = 0;  // 0: n_head * head_stride
  int64_t x_head_stride = 0;   // 0: head_dim
  int64_t y_token_stride = 0;
  int64_t y_head_stride = 0;
  int64_t rope_offset = 0;     // first rotated element within the head
  int64_t rope_dims = 0;       // rotated elements (even, = table.n_dims); 0: rotation off
  Mode mode = Mode::interleaved;
  bool inverse = false;        // rotate by -theta
  HeadNorm norm = HeadNorm::none;
  const float* norm_w = nullptr;  // [head_dim] when weighted
  float eps = 1e-6f;
};

// --- host: the table ----------------------------------------------------------------------------

// ggml_rope_yarn_corr_dims in float64: [low, high] pair indices of the ramp.
inline void yarn_corr_dims(const YarnConfig& c, double& low, double& high) {
  auto corr = [&](double beta) {
    return c.n_dims * std::log(c.n_ctx_orig / (beta * 2.0 * 3.14159265358979323846)) / (2.0 * std::log(c.freq_base));
  };
  low = std::floor(corr(c.beta_fast));
  high = std::ceil(corr(c.beta_slow));
  if (low < 0) low = 0;
  if (high > c.n_dims - 1) high = c.n_dims - 1;
}

// The angle and magnitude of pair i at position p (ggml rope_yarn, float64).
inline void yarn_angle(const YarnConfig& c, int64_t p, int i, double& theta, double& mscale) {
  const double theta_ext = double(p) * std::pow(c.freq_base, -2.0 * i / c.n_dims);
  const double theta_int = c.freq_scale * theta_ext;
  theta = theta_int;
  mscale = c.attn_factor;
  if (c.ext_factor != 0.0) {
    double low, high;
    yarn_corr_dims(c, low, high);
    double y = (i - low) / std::fmax(0.001, high - low);
    y = y < 0 ? 0 : (y > 1 ? 1 : y);
    const double ramp_mix = (1.0 - y) * c.ext_factor;
    theta = theta_int * (1.0 - ramp_mix) + theta_ext * ramp_mix;
    mscale *= 1.0 + 0.1 * std::log(1.0 / c.freq_scale);
  }
}

// The table data for positions 0..n_pos-1 (host, built once; upload it for the device).
inline std::vector<float> make_table(const YarnConfig& c, int64_t n_pos) {
  const int np = c.n_dims / 2;
  std::vector<float> cs(static_cast<size_t>(n_pos > 0 ? n_pos : 0) * np * 2);
  for (int64_t p = 0; p < n_pos; ++p)
    for (int i = 0; i < np; ++i) {
      double th, ms;
      yarn_angle(c, p, i, th, ms);
      cs[(p * np + i) * 2 + 0] = static_cast<float>(std::cos(th) * ms);
      cs[(p * np + i) * 2 + 1] = static_cast<float>(std::sin(th) * ms);
    }
  return cs;
}

// deepseek2 (llama.cpp build_deepseek2): the attn_factor handed to RoPE so that the net YaRN
// magnitude is 1, and the attention scale mscale^2 / sqrt(head_k) with
// mscale = attn_factor * (1 + yarn_log_mul * ln(factor)). Float, as llama.cpp computes them.
inline float deepseek2_rope_attn_factor(float factor) { return 1.0f / (1.0f + 0.1f * std::log(factor)); }
inline float mla_kq_scale(float factor, float yarn_log_mul, int head_k, float attn_factor = 1.0f) {
  const float mscale = attn_factor * (1.0f + yarn_log_mul * std::log(factor));
  return mscale * mscale / std::sqrt(static_cast<float>(head_k));
}

// --- per-element math, shared with kernels ------------------------------------------------------

DSK_HD void rotate(float x0, float x1, float c, float s, float& y0, float& y1) {
  y0 = fp::sub(fp::mul(x0, c), fp::mul(x1, s));
  y1 = fp::add(fp::mul(x0, s), fp::mul(x1, c));
}

// Indices of pair i inside the rotated span.
DSK_HD void pair_index(Mode m, int64_t rope_dims, int64_t i, int64_t& i0, int64_t& i1) {
  if (m == Mode::neox) {
    i0 = i;
    i1 = i + rope_dims / 2;
  } else {
    i0 = 2 * i;
    i1 = 2 * i + 1;
  }
}

inline Status validate(const Params& p) {
  if (p.T < 0 || p.n_head <= 0 || p.head_dim <= 0) return Status::Invalid("rope: bad T / n_head / head_dim");
  if (p.head_dim > norm::kMaxN) return Status::Unsupported("rope: head_dim > 2^24");
  if (p.T > 0 && (!p.x || !p.y || !p.pos)) return Status::Invalid("rope: null x / y / pos");
  if (p.rope_dims < 0 || p.rope_dims % 2 != 0) return Status::Invalid("rope: rope_dims must be even and >= 0");
  if (p.rope_offset < 0 || p.rope_offset + p.rope_dims > p.head_dim) return Status::Invalid("rope: span outside the head");
  if (p.rope_dims > 0 && (!p.table.cs || p.table.n_dims != p.rope_dims || p.table.n_pos <= 0))
    return Status::Invalid("rope: table missing or its n_dims != rope_dims");
  if (p.mode != Mode::interleaved && p.mode != Mode::neox) return Status::Unsupported("rope: mode");
  if (p.norm != HeadNorm::none && p.norm != HeadNorm::weightless && p.norm != HeadNorm::weighted)
    return Status::Unsupported("rope: head norm");
  if (p.norm == HeadNorm::weighted && !p.norm_w) return Status::Invalid("rope: weighted head norm without weight");
  if (p.norm != HeadNorm::none && (!(p.eps >= 0.0f) || !fp::is_finite(p.eps))) return Status::Invalid("rope: eps");
  const int64_t xh = p.x_head_stride ? p.x_head_stride : p.head_dim, yh = p.y_head_stride ? p.y_head_stride : p.head_dim;
  if (xh < p.head_dim || yh < p.head_dim) return Status::Invalid("rope: head stride < head_dim");
  if ((p.x_token_stride && p.x_token_stride < xh * p.n_head) || (p.y_token_stride && p.y_token_stride < yh * p.n_head))
    return Status::Invalid("rope: token stride < n_head * head stride");
  return Status::Ok();
}

}  // namespace dsk::rope
