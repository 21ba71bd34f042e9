# MoE family (include/dsk/moe/, reference/moe.*): SwiGLU FFN, routed experts, shared experts.
add_dsk_test(NAME test_moe LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_moe.cpp LIBS dsk_reference)
