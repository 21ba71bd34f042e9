# Tests for include/dsk/sample/.
add_dsk_test(NAME sample_test_sample LABEL cpu SOURCES sample/test_sample.cpp LIBS dsk_reference)
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_sample_gpu LABEL gpu
               SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sample_gpu.cpp ${CMAKE_CURRENT_LIST_DIR}/sample_gpu_kernels.cu
               LIBS dsk_reference CUDA::cudart)
endif()
