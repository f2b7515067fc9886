# Finds NCCL (nccl.h and libnccl) for the NCCL process group and defines the imported target
# Strata::nccl, setting STRATA_HAVE_NCCL. Searched first under STRATA_NCCL_ROOT (a prefix holding
# include/ and lib/, such as the nvidia/nccl folder of PyTorch's nvidia-nccl-cu13 wheel, where the
# library may only be libnccl.so.2), then in the CUDA toolkit, then in PyTorch's wheel when a
# python3 with it is found. STRATA_NCCL=ON makes not finding it an error; AUTO builds without it.
# Strata's installed package includes this file too, so a consumer resolves the same library
# (STRATA_NCCL_ROOT defaults to where the build found it).
if(TARGET Strata::nccl)
  set(STRATA_HAVE_NCCL ON)
  return()
endif()

set(STRATA_NCCL_ROOT "${STRATA_NCCL_ROOT}" CACHE PATH
    "NCCL prefix holding include/nccl.h and lib/libnccl.so*, searched before the CUDA toolkit")
set(strata_nccl_hints)
if(STRATA_NCCL_ROOT)
  list(APPEND strata_nccl_hints ${STRATA_NCCL_ROOT})
endif()
if(CUDAToolkit_LIBRARY_ROOT)
  list(APPEND strata_nccl_hints ${CUDAToolkit_LIBRARY_ROOT})
endif()
list(APPEND strata_nccl_hints /usr/local/cuda)
# PyTorch's wheel: <site-packages>/nvidia/nccl (or nvidia/cu13 in some CUDA 13 wheels).
find_program(STRATA_PYTHON3 python3)
if(STRATA_PYTHON3)
  execute_process(COMMAND ${STRATA_PYTHON3} -c
                          "import nvidia; print(';'.join(p + s for p in nvidia.__path__ for s in ('/nccl', '/cu13')))"
                  OUTPUT_VARIABLE strata_nccl_wheel OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET RESULT_VARIABLE strata_nccl_python)
  if(strata_nccl_python EQUAL 0)
    list(APPEND strata_nccl_hints ${strata_nccl_wheel})
  endif()
endif()

find_path(STRATA_NCCL_INCLUDE_DIR nccl.h HINTS ${strata_nccl_hints} PATH_SUFFIXES include
          NO_DEFAULT_PATH)
find_library(STRATA_NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${strata_nccl_hints}
             PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu NO_DEFAULT_PATH)
if(NOT STRATA_NCCL_INCLUDE_DIR OR NOT STRATA_NCCL_LIBRARY)
  if(STRATA_NCCL STREQUAL "ON")
    message(FATAL_ERROR
            "NCCL not found (nccl.h: ${STRATA_NCCL_INCLUDE_DIR}, libnccl: ${STRATA_NCCL_LIBRARY}) "
            "but STRATA_NCCL=ON: set STRATA_NCCL_ROOT to its prefix (the folder with "
            "include/nccl.h and lib/libnccl.so*, e.g. <site-packages>/nvidia/nccl), or build "
            "without it (-DSTRATA_NCCL=AUTO or OFF)")
  endif()
  message(STATUS "Strata NCCL: not found (the NCCL process group is left out; set "
                 "STRATA_NCCL_ROOT to add it)")
  set(STRATA_HAVE_NCCL OFF)
  return()
endif()

# NCCL 2.10 brought ncclAvg and ncclBfloat16, both used.
file(STRINGS ${STRATA_NCCL_INCLUDE_DIR}/nccl.h strata_nccl_version REGEX "^#define NCCL_(MAJOR|MINOR) [0-9]+")
string(REGEX REPLACE ".*NCCL_MAJOR ([0-9]+).*" "\\1" strata_nccl_major "${strata_nccl_version}")
string(REGEX REPLACE ".*NCCL_MINOR ([0-9]+).*" "\\1" strata_nccl_minor "${strata_nccl_version}")
if(strata_nccl_major LESS 2 OR (strata_nccl_major EQUAL 2 AND strata_nccl_minor LESS 10))
  message(FATAL_ERROR "NCCL at ${STRATA_NCCL_INCLUDE_DIR} is version ${strata_nccl_major}."
                      "${strata_nccl_minor}; Strata needs NCCL 2.10 or later (set "
                      "STRATA_NCCL_ROOT to a newer one, or -DSTRATA_NCCL=OFF)")
endif()
get_filename_component(STRATA_NCCL_PREFIX ${STRATA_NCCL_INCLUDE_DIR} DIRECTORY)

add_library(Strata::nccl UNKNOWN IMPORTED GLOBAL)
set_target_properties(Strata::nccl PROPERTIES IMPORTED_LOCATION ${STRATA_NCCL_LIBRARY}
                                              INTERFACE_INCLUDE_DIRECTORIES ${STRATA_NCCL_INCLUDE_DIR})
set(STRATA_HAVE_NCCL ON)
message(STATUS "Strata NCCL ${strata_nccl_major}.${strata_nccl_minor}: ${STRATA_NCCL_LIBRARY}")
