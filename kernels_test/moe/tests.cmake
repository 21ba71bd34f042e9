# MoE family (include/dsk/moe/, reference/moe.*): SwiGLU FFN, routed experts, shared experts.
add_dsk_test(NAME test_moe LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_moe.cpp LIBS dsk_reference)
# GPU == reference by bits (dsk/moe/moe_cuda.cuh; skipped, exit 77, without a device).
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_moe_gpu LABEL gpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_moe_gpu.cpp
               ${CMAKE_CURRENT_LIST_DIR}/moe_gpu_kernels.cu LIBS dsk_reference CUDA::cudart)
endif()
