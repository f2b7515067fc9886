# Builds and runs the consumer project (tests/consumer) one of two ways, as a CTest test:
#   MODE=find_package:     installs this build into a temporary prefix, moves the prefix elsewhere
#                          (the package must be relocatable), then find_package(Strata) from there;
#   MODE=add_subdirectory: adds Strata's source tree to the consumer's build (without its tests and
#                          benchmarks), configured like this build: same build type and CUDA
#                          setting, so the compile commands match this build's and ccache hits.
# Inputs (-D): MODE, SOURCE_DIR (Strata's source), BINARY_DIR (this build), WORK_DIR, GENERATOR,
# CXX_COMPILER, BUILD_TYPE, CUDA (ON/OFF), CUDA_ARCHITECTURES.
cmake_minimum_required(VERSION 3.25)

function(run)
  execute_process(COMMAND ${ARGV} COMMAND_ECHO STDOUT COMMAND_ERROR_IS_FATAL ANY)
endfunction()

set(consumer_args -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
                  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
set(build_dir ${WORK_DIR}/build)

if(MODE STREQUAL "find_package")
  set(staged ${WORK_DIR}/staged)
  set(moved ${WORK_DIR}/moved)
  file(REMOVE_RECURSE ${staged} ${moved} ${build_dir})
  run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${staged})
  file(RENAME ${staged} ${moved})
  # A relocatable package names no path of the machine that built it.
  file(GLOB_RECURSE package_files ${moved}/*.cmake)
  foreach(file IN LISTS package_files)
    file(READ ${file} text)
    foreach(path IN ITEMS ${SOURCE_DIR} ${BINARY_DIR} ${staged})
      string(FIND "${text}" "${path}" at)
      if(NOT at EQUAL -1)
        message(FATAL_ERROR "${file} names the build machine's path ${path}")
      endif()
    endforeach()
  endforeach()
  run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR} -B ${build_dir} ${consumer_args}
      -DCMAKE_PREFIX_PATH=${moved})
elseif(MODE STREQUAL "add_subdirectory")
  set(cuda_args -DSTRATA_CUDA=${CUDA})
  if(CUDA)
    list(APPEND cuda_args -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCHITECTURES})
  endif()
  run(${CMAKE_COMMAND} -S ${CMAKE_CURRENT_LIST_DIR} -B ${build_dir} ${consumer_args}
      -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DSTRATA_SOURCE_DIR=${SOURCE_DIR} ${cuda_args})
else()
  message(FATAL_ERROR "MODE must be find_package or add_subdirectory, got '${MODE}'")
endif()

run(${CMAKE_COMMAND} --build ${build_dir})
run(${build_dir}/app)
