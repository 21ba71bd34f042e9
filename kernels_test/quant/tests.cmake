# Quant format tests (include/dsk/quant/, reference/quant.*): one file per header, a cross-check
# against gguf-py, and the GPU == host bits test.
set(_q ${CMAKE_CURRENT_LIST_DIR})

add_dsk_test(NAME test_quant_blocks LABEL cpu SOURCES ${_q}/test_blocks.cpp)
add_dsk_test(NAME test_quant_dequant LABEL cpu SOURCES ${_q}/test_dequant.cpp)
add_dsk_test(NAME test_quant_quantize LABEL cpu SOURCES ${_q}/test_quantize.cpp)
add_dsk_test(NAME test_quant_dot LABEL cpu SOURCES ${_q}/test_dot.cpp)
add_dsk_test(NAME test_quant_reference LABEL cpu SOURCES ${_q}/test_reference_quant.cpp LIBS dsk_reference)

# gguf-py cross-check: tables, dequantization bits, quantizer bytes (crosscheck_gguf.py).
add_executable(quant_crosscheck ${_q}/quant_crosscheck.cpp)
target_link_libraries(quant_crosscheck PRIVATE dsk_reference dsk::kernels dsk_build_flags)
if(DSK_PYTHON_HAS_GGUF)
  add_test(NAME quant_gguf_crosscheck
           COMMAND ${DSK_PYTHON} ${_q}/crosscheck_gguf.py $<TARGET_FILE:quant_crosscheck>)
  set_tests_properties(quant_gguf_crosscheck PROPERTIES LABELS cpu)
endif()

# GPU == host by bits (skipped, exit 77, without a device).
if(DSK_HAVE_CUDA)
  add_dsk_test(NAME test_quant_gpu LABEL gpu SOURCES ${_q}/test_quant_gpu.cpp ${_q}/quant_gpu_kernels.cu
               LIBS CUDA::cudart)
  if(DSK_INSTANCES STREQUAL "ci")
    target_compile_definitions(test_quant_gpu PRIVATE DSK_QUANT_NR_CI=1)
  endif()
endif()
