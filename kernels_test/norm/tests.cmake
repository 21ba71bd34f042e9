# Norm family (include/dsk/norm/, reference/norm.*).
add_dsk_test(NAME test_norm LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_norm.cpp LIBS dsk_reference)
# GPU == reference by bits (dsk/norm/norm_cuda.cuh; skipped, exit 77, without a device).
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_norm_gpu LABEL gpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_norm_gpu.cpp
               ${CMAKE_CURRENT_LIST_DIR}/norm_gpu_kernels.cu LIBS dsk_reference CUDA::cudart)
endif()
