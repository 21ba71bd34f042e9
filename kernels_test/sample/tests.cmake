# Tests for include/dsk/sample/.
add_dsk_test(NAME sample_test_sample LABEL cpu SOURCES sample/test_sample.cpp LIBS dsk_reference)
