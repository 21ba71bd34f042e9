# Router family (include/dsk/router/, reference/router.*).
add_dsk_test(NAME test_router LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_router.cpp LIBS dsk_reference)
# GPU == reference by bits (dsk/router/router_cuda.cuh; skipped, exit 77, without a device).
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_router_gpu LABEL gpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_router_gpu.cpp
               ${CMAKE_CURRENT_LIST_DIR}/router_gpu_kernels.cu LIBS dsk_reference CUDA::cudart)
endif()
