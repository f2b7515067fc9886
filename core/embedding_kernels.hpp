// Kernels behind embedding and embedding_backward (core/embedding.cpp). On the CPU every id has
// already been checked to lie in [0, num_embeddings).
#pragma once

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

// out [N, D] contiguous = rows of weight [V, D] (any strides) picked by the N ids (contiguous,
// i32 or i64).
STRATA_DECLARE_CPU_KERNEL(void, embedding_kernel,
                          (const strata::Tensor& out, const strata::Tensor& weight,
                           const strata::Tensor& ids))
// out [V, D] contiguous: row v = the sum of grad [N, D] (contiguous) rows
// positions[row_start[v] .. row_start[v + 1]) (i64), added in that order.
STRATA_DECLARE_CPU_KERNEL(void, embedding_backward_kernel,
                          (const strata::Tensor& out, const strata::Tensor& grad,
                           const strata::Tensor& row_start, const strata::Tensor& positions))

// CUDA: ids are not checked beforehand; the kernel reports an id outside [0, V) through
// core/cuda/device_error.hpp and skips it. The backward is index_add_grouped_kernel
// (core/indexing_kernels.hpp), which groups positions by id on the device.
namespace strata::cuda {
void embedding_kernel(const Tensor& out, const Tensor& weight, const Tensor& ids);
}  // namespace strata::cuda
