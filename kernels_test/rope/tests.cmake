# RoPE family (include/dsk/rope/, reference/rope.*).
add_dsk_test(NAME test_rope LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rope.cpp LIBS dsk_reference)
