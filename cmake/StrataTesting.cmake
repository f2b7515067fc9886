# strata_add_test(NAME SOURCES... [LABELS ...] [ALSO_AVX2]): a doctest executable registered with
# CTest. ALSO_AVX2 registers it a second time, as NAME_avx2, with the AVX2 kernels forced, so the
# fallback kernels are tested on AVX-512 machines too.
add_library(strata_test_main STATIC ${PROJECT_SOURCE_DIR}/tests/test_main.cpp)
target_link_libraries(strata_test_main PUBLIC doctest::doctest Strata::strata)

function(strata_add_test name)
  cmake_parse_arguments(ARG "ALSO_AVX2" "" "SOURCES;LABELS;ENVIRONMENT" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE strata_test_main)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "${ARG_ENVIRONMENT}")
  if(ARG_ALSO_AVX2 AND "avx2" IN_LIST STRATA_CPU_ISAS)
    set(avx2_environment ${ARG_ENVIRONMENT} STRATA_CPU_ISA=avx2)
    add_test(NAME ${name}_avx2 COMMAND ${name})
    set_tests_properties(${name}_avx2 PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "${avx2_environment}")
  endif()
endfunction()
