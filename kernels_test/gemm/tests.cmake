# Grouped GEMM tests (include/dsk/gemm/): every output row == dsk::ref::gemv by bits, for every
# weight type, grouped by expert ids (CUB sort), one group per head, and dense.
set(_gg ${CMAKE_CURRENT_LIST_DIR})
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_grouped_gemm_gpu LABEL gpu
               SOURCES ${_gg}/test_grouped_gemm_gpu.cpp ${_gg}/grouped_gemm_gpu_kernels.cu
               LIBS dsk_reference CUDA::cudart)
endif()
