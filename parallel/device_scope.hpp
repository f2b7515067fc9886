// DeviceScope: makes a CUDA device current for a scope, then restores the thread's previous one.
// Never throws (it also serves destructors): a failure shows in the next CUDA call that checks.
// Internal to strata_parallel, for CUDA builds.
#pragma once

#include <cuda_runtime.h>

namespace strata::dist::detail {

class DeviceScope {
 public:
  explicit DeviceScope(int device) noexcept {
    cudaGetDevice(&previous_);
    if (device != previous_) cudaSetDevice(device);
  }
  ~DeviceScope() {
    int now = previous_;
    cudaGetDevice(&now);
    if (now != previous_) cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace strata::dist::detail
