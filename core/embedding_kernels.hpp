// Kernels behind embedding and embedding_backward (core/embedding.cpp). ids are contiguous i32 or
// i64 with every value already checked to lie in [0, num_embeddings).
#pragma once

#include "core/cpu/isa.hpp"
#include "core/tensor.hpp"

// out [N, D] contiguous = rows of weight [V, D] (any strides) picked by the N ids.
STRATA_DECLARE_CPU_KERNEL(void, embedding_kernel,
                          (const strata::Tensor& out, const strata::Tensor& weight,
                           const strata::Tensor& ids))
// out [V, D] contiguous: row v = sum of grad [N, D] (contiguous) rows whose id is v, added in
// increasing position order.
STRATA_DECLARE_CPU_KERNEL(void, embedding_backward_kernel,
                          (const strata::Tensor& out, const strata::Tensor& grad,
                           const strata::Tensor& ids))
