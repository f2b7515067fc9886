// Kernels behind Tensor::copy_ and Tensor::fill_: strided copy with dtype conversion, and fill.
#pragma once

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

// dst and src have the same shape and live on the same device; dtypes may differ.
STRATA_DECLARE_CPU_KERNEL(void, copy_kernel, (const strata::Tensor& dst, const strata::Tensor& src))
STRATA_DECLARE_CPU_KERNEL(void, fill_kernel, (const strata::Tensor& dst, double value))

namespace strata::cuda {
void copy_kernel(const Tensor& dst, const Tensor& src);
void fill_kernel(const Tensor& dst, double value);
// Contiguous bytes between host and device, or between devices; blocks until done.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes);
}  // namespace strata::cuda
