# strata_add_test(NAME SOURCES... [LABELS ...]): a doctest executable registered with CTest.
add_library(strata_test_main STATIC ${PROJECT_SOURCE_DIR}/tests/test_main.cpp)
target_link_libraries(strata_test_main PUBLIC doctest::doctest Strata::strata)

function(strata_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LABELS;ENVIRONMENT" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE strata_test_main)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "${ARG_ENVIRONMENT}")
endfunction()
