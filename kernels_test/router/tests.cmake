# Router family (include/dsk/router/, reference/router.*).
add_dsk_test(NAME test_router LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_router.cpp LIBS dsk_reference)
