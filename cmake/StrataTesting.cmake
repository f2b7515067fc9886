# strata_add_test(NAME SOURCES... [LABELS ...] [ENVIRONMENT ...] [ALSO_AVX2] [MPI_RANKS n...]
#                 [MAIN target]): a doctest executable registered with CTest. ALSO_AVX2 registers
# it a second time, as NAME_avx2, with the AVX2 kernels forced, so the fallback kernels are tested
# on AVX-512 machines too. MPI_RANKS registers it once per count n, as NAME_np<n>, run by
# `mpirun --oversubscribe -np n` (strata_mpi_command) with a TIMEOUT, so a hang fails in seconds.
# MAIN replaces the default main (strata_test_main), e.g. by strata_mpi_test_main.
add_library(strata_test_main STATIC ${PROJECT_SOURCE_DIR}/tests/test_main.cpp)
target_link_libraries(strata_test_main PUBLIC doctest::doctest Strata::strata)

# What a multi-rank test runs under: mpirun may run as root in CI containers, and may place more
# ranks than cores.
set(STRATA_MPI_TEST_ENVIRONMENT OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
set(STRATA_MPI_TEST_TIMEOUT 30)

# strata_mpi_command(OUT ranks): the command prefix that starts `ranks` processes.
function(strata_mpi_command out ranks)
  set(${out} ${MPIEXEC_EXECUTABLE} --oversubscribe ${MPIEXEC_NUMPROC_FLAG} ${ranks}
             ${MPIEXEC_PREFLAGS} PARENT_SCOPE)
endfunction()

function(strata_add_test name)
  cmake_parse_arguments(ARG "ALSO_AVX2" "MAIN" "SOURCES;LABELS;ENVIRONMENT;MPI_RANKS" ${ARGN})
  if(NOT ARG_MAIN)
    set(ARG_MAIN strata_test_main)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_MAIN})
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR} ${PROJECT_SOURCE_DIR}/tests)
  if(ARG_MPI_RANKS)
    foreach(ranks IN LISTS ARG_MPI_RANKS)
      strata_mpi_command(mpirun ${ranks})
      add_test(NAME ${name}_np${ranks} COMMAND ${mpirun} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS})
      set(mpi_environment ${ARG_ENVIRONMENT} ${STRATA_MPI_TEST_ENVIRONMENT})
      set_tests_properties(${name}_np${ranks} PROPERTIES
        LABELS "${ARG_LABELS}" PROCESSORS ${ranks} TIMEOUT ${STRATA_MPI_TEST_TIMEOUT}
        ENVIRONMENT "${mpi_environment}")
    endforeach()
    return()
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "${ARG_ENVIRONMENT}")
  if(ARG_ALSO_AVX2 AND "avx2" IN_LIST STRATA_CPU_ISAS)
    set(avx2_environment ${ARG_ENVIRONMENT} STRATA_CPU_ISA=avx2)
    add_test(NAME ${name}_avx2 COMMAND ${name})
    set_tests_properties(${name}_avx2 PROPERTIES LABELS "${ARG_LABELS}" ENVIRONMENT "${avx2_environment}")
  endif()
endfunction()
