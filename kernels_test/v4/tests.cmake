# DeepSeek-V4 family (include/dsk/v4/, reference/v4_*): hyper-connections, sink attention, KV
# compressor, lightning indexer. CPU references against float64 oracles.
add_dsk_test(NAME test_v4_hc LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_hc.cpp LIBS dsk_reference)
add_dsk_test(NAME test_v4_attention LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_attention.cpp LIBS dsk_reference)
add_dsk_test(NAME test_v4_compressor LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_compressor.cpp LIBS dsk_reference)
add_dsk_test(NAME test_v4_indexer LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_indexer.cpp LIBS dsk_reference)
add_dsk_test(NAME test_v4_kv_storage LABEL cpu SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kv_storage.cpp LIBS dsk_reference)
