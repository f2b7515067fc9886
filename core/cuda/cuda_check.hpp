// Turns CUDA runtime errors into strata::Error naming the failing call.
#pragma once

#include <cuda_runtime.h>

#include "core/error.hpp"

#define STRATA_CUDA_CHECK(call)                                              \
  do {                                                                       \
    cudaError_t strata_cuda_status = (call);                                 \
    if (strata_cuda_status != cudaSuccess) {                                 \
      ::strata::fail("CUDA error in ", #call, " (", __FILE__, ":", __LINE__, \
                     "): ", cudaGetErrorName(strata_cuda_status), ": ",      \
                     cudaGetErrorString(strata_cuda_status));                \
    }                                                                        \
  } while (0)

namespace strata::cuda {

// The stream this thread's CUDA kernels run on (the legacy default stream until one is set).
cudaStream_t current_stream();
void set_current_stream(cudaStream_t stream);

}  // namespace strata::cuda
