// The mapped-memory slot behind device_error.hpp.
#include <mutex>

#include "core/cuda/cuda_check.hpp"
#include "core/cuda/device_error.hpp"

namespace strata::cuda {
namespace {

struct Slot {
  DeviceError* host = nullptr;
  DeviceError* device = nullptr;
};

Slot& slot() {
  static Slot mapped = [] {
    Slot s;
    // Portable: the slot is used from every device; mapped: kernels write it in place, so the host
    // reads it after a synchronisation with no copy.
    STRATA_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&s.host), sizeof(DeviceError),
                                    cudaHostAllocMapped | cudaHostAllocPortable));
    *s.host = DeviceError{};
    STRATA_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&s.device), s.host, 0));
    return s;
  }();
  return mapped;
}

}  // namespace

DeviceError* device_error_slot() { return slot().device; }

void raise_device_error() {
  volatile DeviceError* reported = slot().host;
  if (!reported->written) return;
  const DeviceError error = *const_cast<const DeviceError*>(reported);
  *slot().host = DeviceError{};
  const char* when =
      " (found by a CUDA kernel and raised at the next synchronisation, so the op ran "
      "before the statement that threw this)";
  if (error.problem) fail(error.op, ": ", error.problem, " ", error.position, when);
  fail(error.op, ": ", error.what, " ", error.value, " at flat position ", error.position,
       " is out of range: expected 0 <= ", error.what, " < ", error.bound, when);
}

}  // namespace strata::cuda
