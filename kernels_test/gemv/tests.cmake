# GEMV tests (include/dsk/gemv/): GPU == dsk::ref::gemv by bits for every weight type, N = 1..4,
# DeepSeek and odd shapes; GPU activation quantizers == dsk::ref::quantize_row bytes (also, with
# named edge blocks, strides and alignments, in test_quantize_act_gpu).
set(_g ${CMAKE_CURRENT_LIST_DIR})
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_gemv_gpu LABEL gpu SOURCES ${_g}/test_gemv_gpu.cpp ${_g}/gemv_gpu_kernels.cu
               LIBS dsk_reference CUDA::cudart)
  if(DSK_INSTANCES STREQUAL "ci")
    target_compile_definitions(test_gemv_gpu PRIVATE DSK_GEMV_TEST_CI=1)
  endif()
  add_dsk_test(NAME test_quantize_act_gpu LABEL gpu
               SOURCES ${_g}/test_quantize_act_gpu.cpp ${_g}/quantize_act_gpu_kernels.cu
               LIBS dsk_reference CUDA::cudart)
endif()
