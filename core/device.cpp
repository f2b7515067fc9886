// Device queries and the allocator for each device.
#include "core/device.hpp"
#include "core/allocator.hpp"
#include "core/cuda_memory.hpp"
#include "core/error.hpp"

namespace strata {

#if defined(STRATA_HAVE_CUDA)
namespace cuda {
Allocator& device_allocator(int index);  // core/cuda/cuda_allocator.cu
int visible_device_count();              // core/cuda/cuda_runtime.cu
}  // namespace cuda

int cuda_device_count() { return cuda::visible_device_count(); }
#else
int cuda_device_count() { return 0; }
void cuda_synchronize() {}

// core/cuda_memory.hpp without a CUDA backend: every call is an error.
namespace cuda {
namespace {
[[noreturn]] void no_backend(const char* function) {
  fail("strata::cuda::", function,
       ": this Strata build has no CUDA backend; rebuild Strata where nvcc is found "
       "(STRATA_CUDA=AUTO or ON)");
}
}  // namespace

void set_device(int) { no_backend("set_device"); }
int current_device() { no_backend("current_device"); }
int device_for_local_rank(int) { no_backend("device_for_local_rank"); }
DeviceMemoryStats memory_stats(int) { no_backend("memory_stats"); }
void reset_peak_memory_stats(int) { no_backend("reset_peak_memory_stats"); }
void empty_cache() { no_backend("empty_cache"); }
void set_release_threshold(int, uint64_t) { no_backend("set_release_threshold"); }
}  // namespace cuda
#endif

int cuda::device_for_local_rank(int local_rank, int visible_devices) {
  STRATA_CHECK(visible_devices > 0,
               "device_for_local_rank: no CUDA device is visible for local "
               "rank ",
               local_rank, " (check the driver and CUDA_VISIBLE_DEVICES)");
  STRATA_CHECK(local_rank >= 0, "device_for_local_rank: local rank ", local_rank, " is negative");
  return local_rank % visible_devices;
}

bool cuda_is_available() { return cuda_device_count() > 0; }

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return cpu_allocator();
#if defined(STRATA_HAVE_CUDA)
  STRATA_CHECK(device.index >= 0 && device.index < cuda_device_count(), "device ", device.str(),
               " does not exist: ", cuda_device_count(),
               " CUDA device(s) are visible; use an index below strata::cuda_device_count() "
               "(check the driver and CUDA_VISIBLE_DEVICES), or Device::cpu()");
  return cuda::device_allocator(device.index);
#else
  fail("device ", device.str(),
       " is not available: this Strata build has no CUDA backend; use Device::cpu(), or rebuild "
       "Strata where nvcc is found (STRATA_CUDA=AUTO or ON)");
#endif
}

}  // namespace strata
