# Compile flags of the numerics contract (docs/numerics.md), applied to dsk's own targets through
# the INTERFACE target dsk_build_flags (not exported: consumers keep their own flags).
#   host:   -ffp-contract=off (no implicit FMA), -march=x86-64-v3 so std::fma is one instruction,
#           never -ffast-math.
#   device: -fmad=false, IEEE division and square root, no flush-to-zero.
add_library(dsk_build_flags INTERFACE)
set(_dsk_warn -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion)
# GCC 12 reports -Wrestrict false positives inside libstdc++'s std::string at -O3 (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  list(APPEND _dsk_warn -Wno-restrict)
endif()
if(DSK_WERROR)
  list(APPEND _dsk_warn -Werror)
endif()
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(_dsk_arch_default -march=x86-64-v3)
else()
  set(_dsk_arch_default "")
endif()
# Empty it to build for an older CPU: std::fma is then a (correctly rounded, slower) library call,
# so results keep their bits.
set(DSK_HOST_ARCH_FLAGS "${_dsk_arch_default}" CACHE STRING "Host ISA flags for dsk's own code")
target_compile_options(dsk_build_flags INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:${_dsk_warn} -ffp-contract=off ${DSK_HOST_ARCH_FLAGS}>
  $<$<COMPILE_LANGUAGE:CUDA>:-fmad=false --prec-div=true --prec-sqrt=true --ftz=false
      -Xcompiler=-ffp-contract=off,-Wall,-Wextra --expt-relaxed-constexpr>)
if(DSK_HOST_ARCH_FLAGS)
  string(REPLACE ";" "," _dsk_arch_csv "${DSK_HOST_ARCH_FLAGS}")
  target_compile_options(dsk_build_flags INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=${_dsk_arch_csv}>)
endif()

# add_dsk_test(NAME <name> LABEL cpu|gpu SOURCES ... [LIBS ...])
# A gpu test links the GPU main (kernels_test/support/gpu_main.cpp), which exits with 77 when no
# usable CUDA device is present; CTest reports that as skipped (SKIP_RETURN_CODE).
function(add_dsk_test)
  cmake_parse_arguments(T "" "NAME;LABEL" "SOURCES;LIBS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE dsk::kernels dsk_build_flags dsk_test_support ${T_LIBS})
  if(T_LABEL STREQUAL "gpu")
    target_link_libraries(${T_NAME} PRIVATE dsk_test_gpu_main CUDA::cudart)
    target_compile_definitions(${T_NAME} PRIVATE DSK_CUDA_RUNTIME=1)
  else()
    target_link_libraries(${T_NAME} PRIVATE dsk_test_cpu_main)
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  set_tests_properties(${T_NAME} PROPERTIES LABELS ${T_LABEL} SKIP_RETURN_CODE 77)
endfunction()
