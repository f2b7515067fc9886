# Finds cuDNN 9 (cudnn.h and libcudnn) for the CUDA backend's convolutions and defines the imported
# target Strata::cudnn. Searched first under STRATA_CUDNN_ROOT (a prefix holding include/ and lib/,
# such as the nvidia/cudnn folder of PyTorch's nvidia-cudnn-cu13 wheel, where the library may only
# be libcudnn.so.9), then in the CUDA toolkit. Not finding it is an error: a CUDA build without
# cuDNN would have no conv2d on the GPU. Strata's installed package includes this file too, so a
# consumer resolves the same library (STRATA_CUDNN_ROOT defaults to where the build found it).
if(TARGET Strata::cudnn)
  return()
endif()

set(STRATA_CUDNN_ROOT "${STRATA_CUDNN_ROOT}" CACHE PATH
    "cuDNN prefix holding include/cudnn.h and lib/libcudnn.so*, searched before the CUDA toolkit")
set(strata_cudnn_hints)
if(STRATA_CUDNN_ROOT)
  list(APPEND strata_cudnn_hints ${STRATA_CUDNN_ROOT})
endif()
if(CUDAToolkit_LIBRARY_ROOT)
  list(APPEND strata_cudnn_hints ${CUDAToolkit_LIBRARY_ROOT})
endif()
list(APPEND strata_cudnn_hints /usr/local/cuda)

find_path(STRATA_CUDNN_INCLUDE_DIR cudnn.h HINTS ${strata_cudnn_hints} PATH_SUFFIXES include
          NO_DEFAULT_PATH)
find_library(STRATA_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 NAMES_PER_DIR HINTS ${strata_cudnn_hints}
             PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu NO_DEFAULT_PATH)
if(NOT STRATA_CUDNN_INCLUDE_DIR OR NOT STRATA_CUDNN_LIBRARY)
  message(FATAL_ERROR
          "cuDNN not found (cudnn.h: ${STRATA_CUDNN_INCLUDE_DIR}, libcudnn: ${STRATA_CUDNN_LIBRARY}). "
          "The CUDA backend needs cuDNN 9: set STRATA_CUDNN_ROOT to its prefix (the folder with "
          "include/cudnn.h and lib/libcudnn.so*, e.g. <site-packages>/nvidia/cudnn), or build "
          "without CUDA (-DSTRATA_CUDA=OFF).")
endif()

# The version from cudnn_version.h (which cudnn.h includes) when the header is there.
set(strata_cudnn_major 9)
if(EXISTS ${STRATA_CUDNN_INCLUDE_DIR}/cudnn_version.h)
  file(STRINGS ${STRATA_CUDNN_INCLUDE_DIR}/cudnn_version.h strata_cudnn_major
       REGEX "^#define CUDNN_MAJOR [0-9]+")
  string(REGEX REPLACE "^#define CUDNN_MAJOR ([0-9]+)" "\\1" strata_cudnn_major
         "${strata_cudnn_major}")
endif()
if(NOT strata_cudnn_major OR strata_cudnn_major LESS 9)
  message(FATAL_ERROR "cuDNN at ${STRATA_CUDNN_INCLUDE_DIR} is version '${strata_cudnn_major}'; "
                      "Strata needs cuDNN 9 (set STRATA_CUDNN_ROOT to a cuDNN 9 prefix)")
endif()
get_filename_component(STRATA_CUDNN_PREFIX ${STRATA_CUDNN_INCLUDE_DIR} DIRECTORY)

add_library(Strata::cudnn UNKNOWN IMPORTED GLOBAL)
set_target_properties(Strata::cudnn PROPERTIES IMPORTED_LOCATION ${STRATA_CUDNN_LIBRARY}
                                               INTERFACE_INCLUDE_DIRECTORIES ${STRATA_CUDNN_INCLUDE_DIR})
message(STATUS "Strata cuDNN ${strata_cudnn_major}: ${STRATA_CUDNN_LIBRARY}")
