// Device queries and the allocator for each device.
#include "core/device.hpp"
#include "core/allocator.hpp"
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
#endif

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
