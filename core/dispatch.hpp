// Device dispatch: each op keeps one KernelTable, built once, and picks its kernel by the device of
// its operands on every call. A CPU entry comes from STRATA_CPU_KERNEL (the ISA chosen at run
// time); a CUDA entry from STRATA_CUDA_KERNEL, which is null in a build without CUDA.
#pragma once

#include <initializer_list>

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

namespace strata {

template <class Fn>
struct KernelTable {
  const char* op;
  Fn* cpu;
  Fn* cuda;

  Fn* operator()(Device device) const {
    Fn* kernel = device.is_cpu() ? cpu : cuda;
    if (!kernel) {
#if defined(STRATA_HAVE_CUDA)
      fail(op, ": no kernel for device ", device.str(), " yet");
#else
      fail(op, ": this Strata build has no CUDA backend (device ", device.str(),
           "); rebuild with nvcc available or -DSTRATA_CUDA=ON");
#endif
    }
    return kernel;
  }
};

// Throws unless every defined tensor is on one device; returns that device.
Device common_device(const char* op, std::initializer_list<const Tensor*> tensors);
// Throws unless every defined tensor has one dtype; returns that dtype.
DType common_dtype(const char* op, std::initializer_list<const Tensor*> tensors);

}  // namespace strata

#if defined(STRATA_HAVE_CUDA)
#define STRATA_CUDA_KERNEL(name) (&::strata::cuda::name)
#else
#define STRATA_CUDA_KERNEL(name) nullptr
#endif
