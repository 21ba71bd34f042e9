# RoPE family (include/dsk/rope/, reference/rope.*).
add_dsk_test(NAME test_rope LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rope.cpp LIBS dsk_reference)
# GPU == reference by bits (dsk/rope/rope_cuda.cuh; skipped, exit 77, without a device).
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_rope_gpu LABEL gpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rope_gpu.cpp
               ${CMAKE_CURRENT_LIST_DIR}/rope_gpu_kernels.cu LIBS dsk_reference CUDA::cudart)
endif()
