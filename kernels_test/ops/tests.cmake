# Ops family (include/dsk/ops/, reference/ops.*): embedding, SwiGLU, softmax, argmax.
add_dsk_test(NAME test_ops LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops.cpp LIBS dsk_reference)
# GPU == reference by bits (dsk/ops/ops_cuda.cuh; skipped, exit 77, without a device).
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_ops_gpu LABEL gpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops_gpu.cpp
               ${CMAKE_CURRENT_LIST_DIR}/ops_gpu_kernels.cu LIBS dsk_reference CUDA::cudart)
endif()
