# Installs a relocatable package: headers under include/strata, libraries, and a CMake package so
# that consumers write find_package(Strata REQUIRED) and link Strata::strata.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(STRATA_LIBRARY_FOLDERS core io autograd nn optim parallel zero)
install(TARGETS strata strata_core strata_io strata_autograd strata_nn strata_optim
        strata_parallel strata_zero
        EXPORT StrataTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/strata.hpp DESTINATION include/strata)
foreach(folder IN LISTS STRATA_LIBRARY_FOLDERS)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${folder} DESTINATION include/strata
          FILES_MATCHING PATTERN "*.hpp" PATTERN "*.cuh"
          # internal to strata_parallel: <mpi.h> and <cuda_runtime.h> stay out of the package
          PATTERN "shm_collectives.hpp" EXCLUDE PATTERN "mpi_common.hpp" EXCLUDE
          PATTERN "host_staging.hpp" EXCLUDE PATTERN "device_scope.hpp" EXCLUDE)
endforeach()
install(EXPORT StrataTargets NAMESPACE Strata:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Strata)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/StrataConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/StrataConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Strata)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/StrataConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/StrataConfig.cmake ${PROJECT_BINARY_DIR}/StrataConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/StrataCudnn.cmake
              ${PROJECT_SOURCE_DIR}/cmake/StrataNccl.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Strata)
