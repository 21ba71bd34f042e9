# Attention family (include/dsk/attention/, reference/attention.*): absorbed MLA.
add_dsk_test(NAME test_attention LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attention.cpp LIBS dsk_reference)
