// Staged: how MpiProcessGroup takes CUDA tensors, through pinned host memory. On the caller's
// thread a CUDA tensor gets a pinned host buffer of its size, and (for a tensor the collective
// reads) a device-to-host copy queued on the caller's current stream, so it follows the caller's
// kernels without blocking the caller. The progress thread waits for that copy (host()), runs the
// collective on the host tensor, and (for a tensor the collective writes) copies the result back
// and waits for it (copy_back()) before the Work completes: after wait() the device tensor holds
// the result for any stream. A CPU tensor is its own host tensor and both steps do nothing.
//
// The pinned buffers come from a process-wide pool: blocks of the CPU allocator (2 MiB and up, a
// power of two, so each is its own huge-page-aligned mapping) registered once with
// cudaHostRegister and reused, since registering costs far more than the copy of a small tensor.
// Internal to strata_parallel.
#pragma once

#include <memory>

#include "core/tensor.hpp"

namespace strata::dist::detail {

class Staged {
 public:
  // `in`: the collective reads the tensor (its data is copied to the host). Call after the
  // tensor has been validated: contiguous, on the CPU or a CUDA device.
  Staged(const Tensor& tensor, bool in);

  // The host tensor: contiguous, of the tensor's shape and dtype. For a CUDA tensor, waits for
  // the copy into it first.
  const Tensor& host() const;
  // For a CUDA tensor, copies the host tensor into it and waits for that copy.
  void copy_back() const;

  struct State;  // the buffer, the event of the copy (host_staging.cpp)

 private:
  std::shared_ptr<State> state_;  // shared by the copies of a queued task
};

}  // namespace strata::dist::detail
