# Ops family (include/dsk/ops/, reference/ops.*): embedding, SwiGLU, softmax, argmax.
add_dsk_test(NAME test_ops LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ops.cpp LIBS dsk_reference)
