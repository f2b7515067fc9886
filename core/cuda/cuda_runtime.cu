// CUDA device discovery and the per-thread current stream.
#include "core/cuda/cuda_check.hpp"

namespace strata::cuda {

int visible_device_count() {
  static const int count = [] {
    int n = 0;
    // No driver or no device: report zero devices rather than fail, so CPU-only runs work.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

namespace {
thread_local cudaStream_t thread_stream = nullptr;
}

cudaStream_t current_stream() { return thread_stream; }
void set_current_stream(cudaStream_t stream) { thread_stream = stream; }

}  // namespace strata::cuda
