# Tests for include/dsk/core/.
add_dsk_test(NAME core_test_fp LABEL cpu SOURCES core/test_fp.cpp)
add_dsk_test(NAME core_test_half LABEL cpu SOURCES core/test_half.cpp)
add_dsk_test(NAME core_test_math LABEL cpu SOURCES core/test_math.cpp)
add_dsk_test(NAME core_test_reduce LABEL cpu SOURCES core/test_reduce.cpp)
add_dsk_test(NAME core_test_status LABEL cpu SOURCES core/test_status.cpp)
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME core_test_gpu LABEL gpu SOURCES core/test_core_gpu.cpp core/core_gpu_kernels.cu
               LIBS CUDA::cudart)
endif()
