# CPU kernels are compiled once per instruction set and chosen at run time (core/cpu/isa.hpp), so
# that what users build never depends on -march=native.
#
# strata_add_isa_kernels(TARGET SOURCES...) compiles SOURCES into TARGET once per ISA, each copy in
# namespace strata::cpu::<isa> (the macro STRATA_ISA names it).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(STRATA_CPU_ISAS avx2 avx512)
else()
  set(STRATA_CPU_ISAS generic)
endif()
set(STRATA_ISA_FLAGS_avx2 -mavx2 -mfma -mf16c -mbmi2)
set(STRATA_ISA_FLAGS_avx512 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma -mf16c
                            -mbmi2 -mprefer-vector-width=512)
set(STRATA_ISA_FLAGS_generic "")

function(strata_add_isa_kernels target)
  foreach(isa IN LISTS STRATA_CPU_ISAS)
    set(lib ${target}_${isa})
    add_library(${lib} OBJECT ${ARGN})
    # -fno-math-errno: sqrt and friends may then become vector instructions (errno is never read).
    target_compile_options(${lib} PRIVATE ${STRATA_ISA_FLAGS_${isa}} -O3 -fno-math-errno)
    target_compile_definitions(${lib} PRIVATE STRATA_ISA=${isa})
    target_include_directories(${lib} PRIVATE $<TARGET_PROPERTY:${target},INCLUDE_DIRECTORIES>)
    target_compile_definitions(${lib} PRIVATE $<TARGET_PROPERTY:${target},COMPILE_DEFINITIONS>)
    target_link_libraries(${lib} PRIVATE OpenMP::OpenMP_CXX)
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${lib}>)
  endforeach()
endfunction()
