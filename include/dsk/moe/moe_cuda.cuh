// dsk/moe/moe_cuda.cuh — CUDA launchers of the MoE family (dsk/moe/moe.hpp): routed experts (+
// shared experts) for the router's ids / weights, and the dense SwiGLU FFN, bit-identical to
// dsk::ref::moe::moe / ffn.
//
// Decode (T < grouped_min_tokens_knob(), default 5), per chunk of up to 4 tokens:
//   1. x quantized once per activation type the weights need (gemv::quantize_act; F32 weights use
//      x itself);
//   2. gate and up of every (token, slot) pair: gemv::launch_indexed on the 3-D expert stacks (the
//      expert id read on the device);
//   3. h = swiglu(g, u) (clamped when clamp; times the routing weight when weight_before_down),
//      computed inside the quantization to the down projection's activation type (one launch;
//      quantize_act's SwiGLU input), or in place of g for F32 activations;
//   4. down of every pair: launch_indexed with one activation row per pair;
//   5. y = the slots' down outputs combined in slot order (fp::fma(w, d, acc), or fp::add after a
//      weight applied before down), plus the shared experts' FFN (steps 1-4 as plain GEMVs over the
//      chunk's tokens, N = T) by fp::add.
// Prefill (T >= 5), per pass of up to kPrefillTokens tokens: the same steps with the GEMVs replaced
// by the grouped GEMM (dsk/gemm/grouped_gemm.cuh): the pass's (token, slot) pairs grouped by expert
// (CUB radix sort + offsets), gate / up / down as tiles of 64 rows × 32 pairs of one expert
// (each weight tile read once per 32 pairs), the shared experts and the dense FFN as one group.
// Both paths compute every row in the canonical order, so the bits do not depend on the path.
// Every step is one of the reference's formulas in the reference's order (GEMV rows in the
// canonical order, quantize_block bytes, swiglu, the slot-order sum), so y has the reference's
// bits. Differences from the reference, by necessity: an expert id outside [0, n_expert) cannot
// be reported from the device, so that slot's outputs are NaN (the reference returns an error).
//
// Scratch: workspace_size(p) bytes, caller-provided; launchers never allocate or synchronize and
// can be captured in a CUDA graph. Weights: as gemv::launch (16-byte aligned stacks, row strides at
// the block's natural alignment), expert_bytes a multiple of 16.
#pragma once

#include "dsk/moe/moe.hpp"

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "dsk/gemm/grouped_gemm.cuh"
#include "dsk/gemv/gemv.hpp"
#include "dsk/gemv/quantize_act.hpp"
#include "dsk/ops/ops.hpp"

namespace dsk::moe {

namespace cuda_detail {

inline constexpr int kChunk = 4;  // tokens per chunk (gemv's N limit)
inline constexpr int kThreads = 256;
inline constexpr int64_t kPrefillTokens = 1024;  // tokens per grouped pass (bounds the workspace)

// T from which launch() takes the grouped (prefill) path; performance only (tests set 1 to run
// every shape through it). Not thread-safe.
inline int& grouped_min_tokens_knob() {
  static int v = kChunk + 1;
  return v;
}
inline bool use_grouped(int64_t T) { return T >= grouped_min_tokens_knob(); }

using gemv::activation_row_bytes;
using gemv::activation_type;
inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }


inline Status check_shapes(const Tensor& gate, const Tensor& up, const Tensor& down, int64_t n_embd, int64_t n_ff) {
  if (!gemv::k_fits(gate.type, n_embd) || !gemv::k_fits(up.type, n_embd)) return Status::Invalid("moe: n_embd not a multiple of the gate/up block");
  if (!gemv::k_fits(down.type, n_ff)) return Status::Invalid("moe: n_ff not a multiple of the down block");
  return Status::Ok();
}

// Workspace of one FFN pass over P activation rows (pairs): g, u (h in place of g), h quantized, d.
struct FfnLayout {
  size_t g, u, hq, d, total;
};
inline FfnLayout ffn_layout(int64_t P, int64_t n_ff, int64_t n_embd, GgmlType down) {
  FfnLayout l{};
  size_t o = 0;
  l.g = o; o += align256(static_cast<size_t>(P * n_ff) * 4);
  l.u = o; o += align256(static_cast<size_t>(P * n_ff) * 4);
  l.hq = o; o += align256(static_cast<size_t>(P) * activation_row_bytes(activation_type(down), n_ff));
  l.d = o; o += align256(static_cast<size_t>(P * n_embd) * 4);
  l.total = o;
  return l;
}

// The x rows of a chunk (rows tokens) in each activation type (Q8_0, Q8_K; F32 is x itself).
struct XLayout {
  size_t q80, q8k, total;
};
inline XLayout x_layout(int64_t n_embd, int64_t rows = kChunk) {
  XLayout l{};
  size_t o = 0;
  l.q80 = o; o += align256(rows * activation_row_bytes(GgmlType::Q8_0, n_embd / 32 * 32));
  l.q8k = o; o += align256(rows * activation_row_bytes(GgmlType::Q8_K, n_embd / 256 * 256));
  l.total = o;
  return l;
}

// h = swiglu(g, u) (clamped), times the pair's routing weight when w != nullptr; in place of g.
__global__ void __launch_bounds__(kThreads) swiglu_pairs_kernel(float* g, const float* u, int64_t P, int64_t n,
                                                                const float* w, int64_t w_stride, int k, bool clamp,
                                                                float limit) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < P * n; i += int64_t{gridDim.x} * kThreads) {
    const int64_t pr = i / n;
    float h = clamp ? ops::swiglu_clamped(g[i], u[i], limit) : ops::swiglu(g[i], u[i]);
    if (w) h = fp::mul(h, w[(pr / k) * w_stride + pr % k]);
    g[i] = h;
  }
}

// y[t] = sum over slots j in order of d[t * k + j] (fma with the weight, or add), + s[t].
__global__ void __launch_bounds__(kThreads) combine_kernel(const float* d, const float* w, int64_t w_stride, int k,
                                                           bool weight_applied, const float* s, float* y,
                                                           int64_t y_stride, int T, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{kThreads} + threadIdx.x; i < T * n; i += int64_t{gridDim.x} * kThreads) {
    const int64_t t = i / n, c = i - t * n;
    float acc = 0.0f;
    for (int j = 0; j < k; ++j) {
      const float dv = d[(t * k + j) * n + c];
      acc = weight_applied ? fp::add(acc, dv) : fp::fma(w[t * w_stride + j], dv, acc);
    }
    y[t * y_stride + c] = s ? fp::add(acc, s[t * n + c]) : acc;
  }
}

inline unsigned grid_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 65536 ? (b > 0 ? b : 1) : 65536);
}

// h = swiglu(g, u) (clamped; times the pair's routing weight w when given) for P rows of n, as the
// down projection's activation rows: for Q8_0 / Q8_K activations the SwiGLU is computed inside the
// quantizer (quantize_act's SwiGLU input: one launch, h never stored), for F32 ones in place of g.
// The same bits either way (the formula of swiglu_pairs_kernel).
inline Status swiglu_rows(GgmlType down, float* g, const float* u, int64_t P, int64_t n, const float* w, int64_t ws,
                          int k, bool clamp, float limit, quant::Q8Flavor fl, void* hq, cudaStream_t st,
                          const void*& hp, size_t& hs) {
  const GgmlType a = activation_type(down);
  if (a == GgmlType::F32) {
    swiglu_pairs_kernel<<<grid_for(P * n), kThreads, 0, st>>>(g, u, P, n, w, ws, k, clamp, limit);
    DSK_RETURN_IF_LAUNCH_FAILED("moe::swiglu_pairs_kernel");
    hp = g;
    hs = static_cast<size_t>(n) * 4;
    return Status::Ok();
  }
  gemv::QuantizeParams q;
  q.type = a;
  q.x = g;
  q.x_stride = n;
  q.y = hq;
  q.K = n;
  q.N = static_cast<int>(P);
  q.flavor = fl;
  q.swiglu.u = u;
  q.swiglu.w = w;
  q.swiglu.w_stride = ws;
  q.swiglu.k = k;
  q.swiglu.clamp = clamp;
  q.swiglu.limit = limit;
  hp = hq;
  hs = activation_row_bytes(a, n);
  return gemv::quantize_act(q, st);
}

// x (Tc rows) in activation type a: a pointer and byte stride for the GEMV; each quantized type
// made once per chunk (done80 / donek).
inline Status x_in(GgmlType a, const float* x, int64_t xs, int Tc, int64_t n_embd, uint8_t* ws, const XLayout& xl,
                   quant::Q8Flavor fl, bool& done80, bool& donek, const void*& ptr, size_t& stride, cudaStream_t st) {
  const bool is80 = a == GgmlType::Q8_0;
  uint8_t* q = ws + (is80 ? xl.q80 : xl.q8k);
  if (a != GgmlType::F32) {
    bool& done = is80 ? done80 : donek;
    if (done) {
      ptr = q;
      stride = activation_row_bytes(a, n_embd);
      return Status::Ok();
    }
    done = true;
  }
  return gemv::activation_rows(a, x, xs, q, n_embd, Tc, fl, st, ptr, stride);
}

// y[r] = W · x[r] for R rows of a plain (2-D) weight (gemm::launch_dense: GEMV or grouped GEMM).
inline Status dense_rows(const Tensor& tw, const void* xp, size_t xstr, int64_t R, int64_t M, int64_t K, float* y,
                         int64_t ys, cudaStream_t st) {
  return gemm::launch_dense(tw.type, tw.data, tw.row_bytes, xp, xstr, R, M, K, y, ys, st);
}

// One SwiGLU FFN over Tc tokens with plain (2-D) weights: out[t * out_stride + i]. x's quantized
// rows live at xws (XLayout), the FFN's scratch at fws (FfnLayout).
inline Status ffn_chunk(const Tensor& gate, const Tensor& up, const Tensor& down, const float* x, int64_t xs, int Tc,
                        int64_t n_embd, int64_t n_ff, bool clamp, float limit, quant::Q8Flavor fl, uint8_t* xws,
                        const XLayout& xl, uint8_t* fws, const FfnLayout& fl_, bool& done80, bool& donek, float* out,
                        int64_t out_stride, cudaStream_t st) {
  float* g = reinterpret_cast<float*>(fws + fl_.g);
  float* u = reinterpret_cast<float*>(fws + fl_.u);
  for (int which = 0; which < 2; ++which) {
    const Tensor& tw = which ? up : gate;
    const void* xp = nullptr;
    size_t xstr = 0;
    DSK_RETURN_IF_ERROR(x_in(activation_type(tw.type), x, xs, Tc, n_embd, xws, xl, fl, done80, donek, xp, xstr, st));
    DSK_RETURN_IF_ERROR(dense_rows(tw, xp, xstr, Tc, n_ff, n_embd, which ? u : g, n_ff, st));
  }
  const void* hp = nullptr;
  size_t hs = 0;
  DSK_RETURN_IF_ERROR(swiglu_rows(down.type, g, u, Tc, n_ff, nullptr, 0, 1, clamp, limit, fl, fws + fl_.hq, st, hp, hs));
  return dense_rows(down, hp, hs, Tc, n_embd, n_ff, out, out_stride, st);
}

// Scratch of one grouped (prefill) pass over Tc tokens: x quantized, the pair grouping, the routed
// experts' FFN over Tc * k pairs, the shared experts' FFN over Tc tokens.
struct PrefillLayout {
  XLayout xl;
  FfnLayout rl, sl;
  size_t grp, routed, shared, total;
};
inline PrefillLayout prefill_layout(const Params& p, int64_t Tc) {
  PrefillLayout l{};
  l.xl = x_layout(p.n_embd, Tc);
  l.rl = ffn_layout(Tc * p.k, p.n_ff, p.n_embd, p.down.type);
  l.sl = ffn_layout(Tc, p.n_ff_shared > 0 ? p.n_ff_shared : 1, p.n_embd,
                    p.n_ff_shared > 0 ? p.down_shared.type : GgmlType::F32);
  size_t o = l.xl.total;
  l.grp = o; o += gemm::group_workspace_size(Tc * p.k, p.n_expert);
  l.routed = o; o += l.rl.total;
  l.shared = o; o += p.n_ff_shared > 0 ? l.sl.total : 0;
  l.total = o;
  return l;
}

// The grouped path over tokens [t0, t0 + Tc).
inline Status moe_grouped_pass(const Params& p, int64_t t0, int Tc, uint8_t* ws, const PrefillLayout& l,
                               cudaStream_t stream) {
  const int64_t xs = p.x_stride ? p.x_stride : p.n_embd, ys = p.y_stride ? p.y_stride : p.n_embd;
  const int64_t is = p.ids_stride ? p.ids_stride : p.k;
  const float* x = p.x + t0 * xs;
  const int32_t* ids = p.ids + t0 * is;
  const float* w = p.weights + t0 * is;
  const int64_t P = int64_t{Tc} * p.k;
  gemm::Grouping grp;
  DSK_RETURN_IF_ERROR(gemm::group_pairs(ids, is, Tc, p.k, p.n_expert, ws + l.grp,
                                        gemm::group_workspace_size(P, p.n_expert), grp, stream));
  uint8_t* rws = ws + l.routed;
  float* g = reinterpret_cast<float*>(rws + l.rl.g);
  float* u = reinterpret_cast<float*>(rws + l.rl.u);
  float* d = reinterpret_cast<float*>(rws + l.rl.d);
  bool done80 = false, donek = false;
  auto grouped = [&](const Tensor& tw, const void* xp, size_t xstr, int act_div, int64_t M, int64_t K, float* y) {
    gemm::GroupedParams gp;
    gp.wtype = tw.type;
    gp.w = tw.data;
    gp.w_row_stride = tw.row_bytes;
    gp.expert_bytes = tw.expert_bytes;
    gp.n_expert = p.n_expert;
    gp.x = xp;
    gp.x_stride = xstr;
    gp.P = P;
    gp.pair = grp.pair;
    gp.act_div = act_div;
    gp.group_offsets = grp.group_offsets;
    gp.tile_offsets = grp.tile_offsets;
    gp.y = y;
    gp.y_stride = M;
    gp.M = M;
    gp.K = K;
    return gemm::launch_grouped(gp, stream);
  };
  for (int which = 0; which < 2; ++which) {
    const Tensor& tw = which ? p.up : p.gate;
    const void* xp = nullptr;
    size_t xstr = 0;
    DSK_RETURN_IF_ERROR(
        x_in(activation_type(tw.type), x, xs, Tc, p.n_embd, ws, l.xl, p.flavor, done80, donek, xp, xstr, stream));
    DSK_RETURN_IF_ERROR(grouped(tw, xp, xstr, p.k, p.n_ff, p.n_embd, which ? u : g));
  }
  const void* hp = nullptr;
  size_t hs = 0;
  DSK_RETURN_IF_ERROR(swiglu_rows(p.down.type, g, u, P, p.n_ff, p.weight_before_down ? w : nullptr, is, p.k,
                                  p.clamp, p.limit, p.flavor, rws + l.rl.hq, stream, hp, hs));
  DSK_RETURN_IF_ERROR(grouped(p.down, hp, hs, 1, p.n_embd, p.n_ff, d));
  float* s = nullptr;
  if (p.n_ff_shared > 0) {
    uint8_t* sws = ws + l.shared;
    s = reinterpret_cast<float*>(sws + l.sl.d);
    DSK_RETURN_IF_ERROR(ffn_chunk(p.gate_shared, p.up_shared, p.down_shared, x, xs, Tc, p.n_embd, p.n_ff_shared,
                                  p.shared_clamp, p.limit, p.flavor, ws, l.xl, sws, l.sl, done80, donek, s, p.n_embd,
                                  stream));
  }
  combine_kernel<<<grid_for(Tc * p.n_embd), kThreads, 0, stream>>>(d, w, is, p.k, p.weight_before_down, s,
                                                                    p.y + t0 * ys, ys, Tc, p.n_embd);
  DSK_RETURN_IF_LAUNCH_FAILED("moe::combine_kernel");
  return Status::Ok();
}

}  // namespace cuda_detail

// Device scratch bytes launch(p, ...) needs.
// Grows with T up to kPrefillTokens tokens (the grouped path's pairs); decode (T <= 4) needs the
// chunk's scratch only.
inline size_t workspace_size(const Params& p) {
  using namespace cuda_detail;
  if (use_grouped(p.T)) return prefill_layout(p, std::min<int64_t>(p.T, kPrefillTokens)).total;
  const int64_t P = int64_t{kChunk} * p.k;
  size_t b = x_layout(p.n_embd).total + ffn_layout(P, p.n_ff, p.n_embd, p.down.type).total;
  if (p.n_ff_shared > 0) b += ffn_layout(kChunk, p.n_ff_shared, p.n_embd, p.down_shared.type).total;
  return b;
}
inline size_t workspace_size(const FfnParams& p) {
  using namespace cuda_detail;
  const int64_t rows = use_grouped(p.T) ? std::min<int64_t>(p.T, kPrefillTokens) : kChunk;
  return x_layout(p.n_embd, rows).total + ffn_layout(rows, p.n_ff, p.n_embd, p.down.type).total;
}

// Routed (+ shared) experts, y = moe(x) for every token (see the header comment).
// A second stream for the shared experts (decode path): they run beside the routed experts, forked
// after x is quantized and joined before the combine, by two caller-made events (no allocation in
// the launcher; capturable: the fork and join become graph edges). Same kernels, same bits.
struct SharedStream {
  cudaStream_t stream = nullptr;
  cudaEvent_t fork = nullptr, join = nullptr;  // cudaEventDisableTiming events
};

inline Status launch(const Params& p, void* workspace, size_t workspace_bytes, cudaStream_t stream,
                     const SharedStream* side = nullptr) {
  using namespace cuda_detail;
  if (Status s = validate(p); !s.ok()) return s;
  if (Status s = check_shapes(p.gate, p.up, p.down, p.n_embd, p.n_ff); !s.ok()) return s;
  if (p.n_ff_shared > 0)
    if (Status s = check_shapes(p.gate_shared, p.up_shared, p.down_shared, p.n_embd, p.n_ff_shared); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  if (workspace_bytes < workspace_size(p) || !workspace) return Status::Workspace("moe: workspace too small");
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return Status::Invalid("moe: workspace must be 256-byte aligned");
  uint8_t* ws = static_cast<uint8_t*>(workspace);
  if (use_grouped(p.T)) {
    const PrefillLayout l = prefill_layout(p, std::min<int64_t>(p.T, kPrefillTokens));
    for (int64_t t0 = 0; t0 < p.T; t0 += kPrefillTokens)
      DSK_RETURN_IF_ERROR(moe_grouped_pass(p, t0, static_cast<int>(std::min<int64_t>(kPrefillTokens, p.T - t0)), ws, l, stream));
    return Status::Ok();
  }
  const XLayout xl = x_layout(p.n_embd);
  const int64_t Pmax = int64_t{kChunk} * p.k;
  const FfnLayout rl = ffn_layout(Pmax, p.n_ff, p.n_embd, p.down.type);
  uint8_t* rws = ws + xl.total;
  const FfnLayout sl = ffn_layout(kChunk, p.n_ff_shared > 0 ? p.n_ff_shared : 1, p.n_embd,
                                  p.n_ff_shared > 0 ? p.down_shared.type : GgmlType::F32);
  uint8_t* sws = rws + rl.total;
  const int64_t xs = p.x_stride ? p.x_stride : p.n_embd, ys = p.y_stride ? p.y_stride : p.n_embd;
  const int64_t is = p.ids_stride ? p.ids_stride : p.k;
  for (int64_t t0 = 0; t0 < p.T; t0 += kChunk) {
    const int Tc = static_cast<int>(std::min<int64_t>(kChunk, p.T - t0));
    const float* x = p.x + t0 * xs;
    const int32_t* ids = p.ids + t0 * is;
    const float* w = p.weights + t0 * is;
    bool done80 = false, donek = false;
    float* g = reinterpret_cast<float*>(rws + rl.g);
    float* u = reinterpret_cast<float*>(rws + rl.u);
    float* d = reinterpret_cast<float*>(rws + rl.d);
    const int64_t P = int64_t{Tc} * p.k;
    // The shared experts on the side stream from here (x quantized for the routed experts first:
    // the shared experts read it when their type matches, else quantize into their own region).
    const bool fork = side && side->stream && p.n_ff_shared > 0;
    float* s = nullptr;
    if (fork) {
      for (const Tensor* tw : {&p.gate, &p.up}) {
        const void* xp = nullptr;
        size_t xstr = 0;
        DSK_RETURN_IF_ERROR(
            x_in(activation_type(tw->type), x, xs, Tc, p.n_embd, ws, xl, p.flavor, done80, donek, xp, xstr, stream));
      }
      DSK_RETURN_IF_ERROR(Status::Cuda(cudaEventRecord(side->fork, stream), "moe: fork"));
      DSK_RETURN_IF_ERROR(Status::Cuda(cudaStreamWaitEvent(side->stream, side->fork, 0), "moe: fork"));
      s = reinterpret_cast<float*>(sws + sl.d);
      DSK_RETURN_IF_ERROR(ffn_chunk(p.gate_shared, p.up_shared, p.down_shared, x, xs, Tc, p.n_embd, p.n_ff_shared,
                                    p.shared_clamp, p.limit, p.flavor, ws, xl, sws, sl, done80, donek, s, p.n_embd,
                                    side->stream));
      DSK_RETURN_IF_ERROR(Status::Cuda(cudaEventRecord(side->join, side->stream), "moe: join"));
    }
    // 2. gate and up of every pair
    for (int which = 0; which < 2; ++which) {
      const Tensor& tw = which ? p.up : p.gate;
      const void* xp = nullptr;
      size_t xstr = 0;
      DSK_RETURN_IF_ERROR(
          x_in(activation_type(tw.type), x, xs, Tc, p.n_embd, ws, xl, p.flavor, done80, donek, xp, xstr, stream));
      gemv::IndexedParams ip;
      ip.wtype = tw.type;
      ip.w = tw.data;
      ip.w_row_stride = tw.row_bytes;
      ip.expert_bytes = tw.expert_bytes;
      ip.n_expert = p.n_expert;
      ip.x = xp;
      ip.x_stride = xstr;
      ip.T = Tc;
      ip.ids = ids;
      ip.ids_stride = is;
      ip.k = p.k;
      ip.y = which ? u : g;
      ip.M = p.n_ff;
      ip.K = p.n_embd;
      DSK_RETURN_IF_ERROR(gemv::launch_indexed(ip, stream));
    }
    // 3. h, quantized for down
    const void* hp = nullptr;
    size_t hs = 0;
    DSK_RETURN_IF_ERROR(swiglu_rows(p.down.type, g, u, P, p.n_ff, p.weight_before_down ? w : nullptr, is, p.k,
                                    p.clamp, p.limit, p.flavor, rws + rl.hq, stream, hp, hs));
    // 4. down of every pair (activation row = the pair)
    gemv::IndexedParams dp;
    dp.wtype = p.down.type;
    dp.w = p.down.data;
    dp.w_row_stride = p.down.row_bytes;
    dp.expert_bytes = p.down.expert_bytes;
    dp.n_expert = p.n_expert;
    dp.x = hp;
    dp.x_stride = hs;
    dp.T = Tc;
    dp.ids = ids;
    dp.ids_stride = is;
    dp.k = p.k;
    dp.act_per_pair = true;
    dp.y = d;
    dp.M = p.n_embd;
    dp.K = p.n_ff;
    DSK_RETURN_IF_ERROR(gemv::launch_indexed(dp, stream));
    // shared experts (here when not on the side stream; joined before the combine when they are)
    if (fork) {
      DSK_RETURN_IF_ERROR(Status::Cuda(cudaStreamWaitEvent(stream, side->join, 0), "moe: join"));
    } else if (p.n_ff_shared > 0) {
      s = reinterpret_cast<float*>(sws + sl.d);
      DSK_RETURN_IF_ERROR(ffn_chunk(p.gate_shared, p.up_shared, p.down_shared, x, xs, Tc, p.n_embd, p.n_ff_shared,
                                    p.shared_clamp, p.limit, p.flavor, ws, xl, sws, sl, done80, donek, s, p.n_embd,
                                    stream));
    }
    // 5. combine
    combine_kernel<<<grid_for(Tc * p.n_embd), kThreads, 0, stream>>>(d, w, is, p.k, p.weight_before_down, s,
                                                                      p.y + t0 * ys, ys, Tc, p.n_embd);
    DSK_RETURN_IF_LAUNCH_FAILED("moe::combine_kernel");
  }
  return Status::Ok();
}

// Dense SwiGLU FFN, y = ffn(x) for every token.
inline Status launch(const FfnParams& p, void* workspace, size_t workspace_bytes, cudaStream_t stream) {
  using namespace cuda_detail;
  if (Status s = validate(p); !s.ok()) return s;
  if (Status s = check_shapes(p.gate, p.up, p.down, p.n_embd, p.n_ff); !s.ok()) return s;
  if (p.T == 0) return Status::Ok();
  if (workspace_bytes < workspace_size(p) || !workspace) return Status::Workspace("ffn: workspace too small");
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0) return Status::Invalid("ffn: workspace must be 256-byte aligned");
  uint8_t* ws = static_cast<uint8_t*>(workspace);
  const int64_t rows = use_grouped(p.T) ? std::min<int64_t>(p.T, kPrefillTokens) : kChunk;
  const XLayout xl = x_layout(p.n_embd, rows);
  const FfnLayout fl = ffn_layout(rows, p.n_ff, p.n_embd, p.down.type);
  const int64_t xs = p.x_stride ? p.x_stride : p.n_embd, ys = p.y_stride ? p.y_stride : p.n_embd;
  for (int64_t t0 = 0; t0 < p.T; t0 += rows) {
    const int Tc = static_cast<int>(std::min<int64_t>(rows, p.T - t0));
    bool done80 = false, donek = false;
    DSK_RETURN_IF_ERROR(ffn_chunk(p.gate, p.up, p.down, p.x + t0 * xs, xs, Tc, p.n_embd, p.n_ff, p.clamp, p.limit,
                                  p.flavor, ws, xl, ws + xl.total, fl, done80, donek, p.y + t0 * ys, ys, stream));
  }
  return Status::Ok();
}

}  // namespace dsk::moe

#endif  // __CUDACC__
