# Attention family (include/dsk/attention/, reference/attention.*): absorbed MLA.
add_dsk_test(NAME test_attention LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attention.cpp LIBS dsk_reference)
# GPU == reference by bits (dsk/attention/attention_cuda.cuh; skipped, exit 77, without a device).
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_attention_gpu LABEL gpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attention_gpu.cpp
               ${CMAKE_CURRENT_LIST_DIR}/attention_gpu_kernels.cu LIBS dsk_reference CUDA::cudart)
endif()
# mla_prep (dsk/attention/mla_prep_cuda.cuh) == ref::attention::mla_prep by bits.
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_mla_prep_gpu LABEL gpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_mla_prep_gpu.cpp
               ${CMAKE_CURRENT_LIST_DIR}/mla_prep_gpu_kernels.cu LIBS dsk_reference CUDA::cudart)
endif()
