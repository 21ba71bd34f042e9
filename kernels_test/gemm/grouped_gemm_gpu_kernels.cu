// Host wrappers of test_grouped_gemm_gpu (grouped_gemm_gpu_kernels.hpp).
#include <stdexcept>
#include <vector>

#include "device_mirror.cuh"
#include "dsk/gemm/grouped_gemm.cuh"
#include "grouped_gemm_gpu_kernels.hpp"

namespace dsk::test::gpu_gemm {

std::vector<float> run_grouped(const GroupedRun& r, Status* status) {
  const int64_t rows = r.grouping == Grouping::dense   ? r.T
                       : r.grouping == Grouping::heads ? int64_t{r.T} * r.n_expert
                                                       : int64_t{r.T} * r.k;
  const int64_t ys = r.y_stride ? r.y_stride : r.M;
  std::vector<float> y(static_cast<size_t>(rows * ys), 0.0f);
  DeviceMirror m;
  gemm::GroupedParams p;
  p.wtype = r.wtype;
  p.w = m.in(r.w, r.w_bytes);
  p.w_row_stride = r.w_row_stride;
  p.expert_bytes = r.expert_bytes;
  p.n_expert = r.n_expert;
  p.x = m.in(r.x, r.x_bytes);
  p.x_stride = r.x_stride;
  p.P = rows;
  p.y = m.out(y.data(), y.size());
  p.y_stride = r.y_stride;
  p.M = r.M;
  p.K = r.K;
  const int32_t* ids = m.in(r.ids, static_cast<size_t>(int64_t{r.T} * r.k));
  size_t wb = r.grouping == Grouping::by_ids ? gemm::group_workspace_size(rows, r.n_expert)
                                             : gemm::head_workspace_size(r.T, r.n_expert);
  void* ws = nullptr;
  DSK_CUDA_CHECK(cudaMalloc(&ws, wb));
  const Status s = launch_maybe_in_graph(r.graph, [&](cudaStream_t st) -> Status {
    gemm::Grouping g;
    if (r.grouping == Grouping::by_ids) {
      DSK_RETURN_IF_ERROR(gemm::group_pairs(ids, r.k, r.T, r.k, r.n_expert, ws, wb, g, st));
      p.act_div = r.act_per_pair ? 1 : r.k;
    } else if (r.grouping == Grouping::heads) {
      DSK_RETURN_IF_ERROR(gemm::group_heads(r.T, r.n_expert, ws, wb, g, st));
    }
    if (r.grouping != Grouping::dense) {
      p.pair = g.pair;
      p.group_offsets = g.group_offsets;
      p.tile_offsets = g.tile_offsets;
    }
    return gemm::launch_grouped(p, st);
  });
  m.download();
  cudaFree(ws);
  if (status) *status = s;
  else if (!s.ok()) throw std::runtime_error(s.what);
  return y;
}

}  // namespace dsk::test::gpu_gemm
