# Norm family (include/dsk/norm/, reference/norm.*).
add_dsk_test(NAME test_norm LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_norm.cpp LIBS dsk_reference)
