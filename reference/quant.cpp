// reference/quant.cpp — type dispatch of the row-level host functions (quant.hpp).
#include "reference/quant.hpp"

#include <stdexcept>
#include <string>
#include <type_traits>

#include "dsk/quant/blocks.hpp"
#include "dsk/quant/dequant.hpp"
#include "dsk/quant/dot.hpp"

namespace dsk::ref {
namespace {

using namespace dsk::quant;

[[noreturn]] void unsupported(const char* what, GgmlType t) {
  const GgmlTypeInfo* info = ggml_type_info(static_cast<uint32_t>(t));
  throw std::invalid_argument(std::string("dsk::ref::") + what + ": unsupported type " +
                              (info ? std::string(info->name) : std::to_string(static_cast<uint32_t>(t))));
}

void check_k(const char* what, GgmlType t, int64_t K, int64_t block) {
  if (K < 0 || K % block != 0)
    throw std::invalid_argument(std::string("dsk::ref::") + what + ": K = " + std::to_string(K) +
                                " is not a multiple of " + std::to_string(block) + " for " +
                                std::string(ggml_type_name(t)));
}

// Calls f(B{}) with a value of the block type of t (dot-block view for the float types).
template <class F>
auto with_block(const char* what, GgmlType t, F&& f) {
  switch (t) {
    case GgmlType::F32: return f(block_f32{});
    case GgmlType::F16: return f(block_f16{});
    case GgmlType::BF16: return f(block_bf16{});
    case GgmlType::Q8_0: return f(block_q8_0{});
    case GgmlType::Q8_K: return f(block_q8_K{});
    case GgmlType::Q4_K: return f(block_q4_K{});
    case GgmlType::Q6_K: return f(block_q6_K{});
    case GgmlType::Q2_K: return f(block_q2_K{});
    case GgmlType::IQ2_XXS: return f(block_iq2_xxs{});
    default: unsupported(what, t);
  }
}

bool is_float(GgmlType t) { return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16; }

}  // namespace

int64_t block_elems(GgmlType t) {
  return with_block("block_elems", t, [&](auto b) -> int64_t {
    return is_float(t) ? 1 : block_traits<decltype(b)>::elems;
  });
}

int64_t dot_block_elems(GgmlType t) {
  activation_type(t);  // throws for a type that is not a weight type
  return with_block("dot_block_elems", t, [](auto b) -> int64_t { return block_traits<decltype(b)>::elems; });
}

size_t row_bytes(GgmlType t, int64_t K) {
  check_k("row_bytes", t, K, block_elems(t));
  const GgmlTypeInfo& info = ggml_type_info(t);
  return static_cast<size_t>(K / info.block_elems) * info.block_bytes;
}

void quantize_row(GgmlType t, const float* x, void* y, int64_t K, Q8Flavor flavor) {
  if (t == GgmlType::IQ2_XXS) unsupported("quantize_row", t);
  check_k("quantize_row", t, K, block_elems(t));
  if (is_float(t)) {  // element by element: any K
    for (int64_t i = 0; i < K; ++i) {
      if (t == GgmlType::F32) static_cast<float*>(y)[i] = x[i];
      else if (t == GgmlType::F16) static_cast<f16*>(y)[i] = f16::from_float(x[i]);
      else static_cast<bf16*>(y)[i] = bf16::from_float(x[i]);
    }
    return;
  }
  with_block("quantize_row", t, [&](auto b) {
    using B = decltype(b);
    constexpr int n = block_traits<B>::elems;
    B* out = static_cast<B*>(y);
    for (int64_t i = 0; i < K / n; ++i) {
      if constexpr (std::is_same_v<B, block_q8_0> || std::is_same_v<B, block_q8_K>)
        quantize_block(x + i * n, out[i], flavor);
      else if constexpr (!std::is_same_v<B, block_iq2_xxs>)
        quantize_block(x + i * n, out[i]);
    }
  });
}

void dequantize_row(GgmlType t, const void* x, float* y, int64_t K) {
  check_k("dequantize_row", t, K, block_elems(t));
  if (is_float(t)) {
    for (int64_t i = 0; i < K; ++i) {
      if (t == GgmlType::F32) y[i] = static_cast<const float*>(x)[i];
      else if (t == GgmlType::F16) y[i] = static_cast<const f16*>(x)[i].to_float();
      else y[i] = static_cast<const bf16*>(x)[i].to_float();
    }
    return;
  }
  with_block("dequantize_row", t, [&](auto b) {
    using B = decltype(b);
    constexpr int n = block_traits<B>::elems;
    const B* in = static_cast<const B*>(x);
    for (int64_t i = 0; i < K / n; ++i) dequantize_block(in[i], y + i * n);
  });
}

GgmlType activation_type(GgmlType t) {
  switch (t) {
    case GgmlType::Q8_0: return GgmlType::Q8_0;
    case GgmlType::Q4_K:
    case GgmlType::Q6_K:
    case GgmlType::Q2_K:
    case GgmlType::IQ2_XXS: return GgmlType::Q8_K;
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16: return GgmlType::F32;
    default: unsupported("activation_type", t);
  }
}

void gemv(GgmlType t, const void* w, int64_t M, const void* act_row, int64_t K, float* y, size_t w_row_stride) {
  activation_type(t);
  check_k("gemv", t, K, dot_block_elems(t));
  if (K / dot_block_elems(t) > INT32_MAX) throw std::invalid_argument("dsk::ref::gemv: K too large");
  const size_t stride = w_row_stride ? w_row_stride : row_bytes(t, K);
  with_block("gemv", t, [&](auto b) {
    using W = decltype(b);
    if constexpr (!std::is_void_v<act_block_t<W>>) {
      const int nb = static_cast<int>(K / block_traits<W>::elems);
      const auto* a = static_cast<const act_block_t<W>*>(act_row);
      for (int64_t m = 0; m < M; ++m)
        y[m] = quant::dot_row(reinterpret_cast<const W*>(static_cast<const char*>(w) + m * stride), a, nb);
    }
  });
}

float dot_row(GgmlType t, const void* w_row, const void* act_row, int64_t K) {
  float r;
  gemv(t, w_row, 1, act_row, K, &r);
  return r;
}

}  // namespace dsk::ref
