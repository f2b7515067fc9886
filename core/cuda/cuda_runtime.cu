// CUDA device discovery and selection (core/cuda_memory.hpp), the per-thread current stream, and
// synchronisation.
#include "core/cuda/cuda_check.hpp"
#include "core/cuda/device_error.hpp"
#include "core/cuda_memory.hpp"
#include "core/device.hpp"

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

void set_device(int device) {
  STRATA_CHECK(device >= 0 && device < visible_device_count(), "set_device: CUDA device ", device,
               " does not exist: ", visible_device_count(),
               " device(s) are visible (check CUDA_VISIBLE_DEVICES)");
  STRATA_CUDA_CHECK(cudaSetDevice(device));
}

int current_device() {
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

int device_for_local_rank(int local_rank) {
  return device_for_local_rank(local_rank, visible_device_count());
}

namespace {
thread_local cudaStream_t thread_stream = nullptr;
}

cudaStream_t current_stream() { return thread_stream; }
void set_current_stream(cudaStream_t stream) { thread_stream = stream; }

}  // namespace strata::cuda

namespace strata {

void cuda_synchronize() {
  if (cuda::visible_device_count() == 0) return;
  STRATA_CUDA_CHECK(cudaDeviceSynchronize());
  cuda::raise_device_error();
}

}  // namespace strata
