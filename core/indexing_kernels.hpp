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
