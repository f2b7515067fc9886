// Kernels behind core/indexing.hpp. The front ends (indexing.cpp) validate shapes and index ranges
// and shape the operands so that few kernels serve many ops: index_select is a gather with an
// expanded index, index_select_backward a scatter-add into zeros.
#pragma once

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

// out[.., j, ..] = x[.., index[.., j, ..], ..] along dim. out and index have one shape; x agrees
// with it except along dim. Indices are already checked to lie in [0, x.size(dim)).
STRATA_DECLARE_CPU_KERNEL(void, gather_kernel,
                          (const strata::Tensor& out, const strata::Tensor& x, int64_t dim,
                           const strata::Tensor& index))
// out[.., index[.., j, ..], ..] = src[.., j, ..] (or += when accumulate), in place. index and src
// have one shape; out agrees with it except along dim. Each line along dim is applied in order.
STRATA_DECLARE_CPU_KERNEL(void, scatter_kernel,
                          (const strata::Tensor& out, int64_t dim, const strata::Tensor& index,
                           const strata::Tensor& src, bool accumulate))
// out = mask ? value : x; out, x and mask (bool, expanded) have one shape.
STRATA_DECLARE_CPU_KERNEL(void, masked_fill_kernel,
                          (const strata::Tensor& out, const strata::Tensor& x,
                           const strata::Tensor& mask, double value))
// The k = values.size(dim) largest (or smallest) elements of each line of x along dim.
STRATA_DECLARE_CPU_KERNEL(void, topk_kernel,
                          (const strata::Tensor& values, const strata::Tensor& indices,
                           const strata::Tensor& x, int64_t dim, bool largest, bool sorted))

namespace strata::cuda {
void gather_kernel(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index);
void scatter_kernel(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                    bool accumulate);
void masked_fill_kernel(const Tensor& out, const Tensor& x, const Tensor& mask, double value);
void topk_kernel(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim,
                 bool largest, bool sorted);
// Reports (core/cuda/device_error.hpp) the first element of index (i32/i64, any layout) outside
// [0, bound) as a `what` of `op`; the error is raised at the next synchronisation. The kernels
// above skip such indices rather than read or write out of bounds.
void check_index_range(const char* op, const char* what, const Tensor& index, int64_t bound);
// out [outer, V, inner] (contiguous, grad's dtype, not bool) = zeros with grad [outer, N, inner]
// (contiguous) slice j added at slice index[j] (1-D, N entries, i32/i64): each output element is
// one thread's sum over ascending j, so the result is the CPU scatter-add's, and deterministic.
// Indices outside [0, V) are reported as for check_index_range and skipped.
void index_add_grouped_kernel(const char* op, const char* what, const Tensor& out,
                              const Tensor& grad, const Tensor& index);
}  // namespace strata::cuda
