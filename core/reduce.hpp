// Reductions over any set of dims (empty = all dims), with keepdim, and their backward kernels.
// 16-bit inputs accumulate in f32; the summation order is fixed, so results are deterministic.
#pragma once

#include <vector>

#include "core/tensor.hpp"

namespace strata {

using Dims = std::vector<int64_t>;

Tensor sum(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const Dims& dims = {}, bool keepdim = false);
// Variance with Bessel's correction by default (correction = 1), as torch.var.
Tensor var(const Tensor& x, const Dims& dims = {}, int64_t correction = 1, bool keepdim = false);
// The p-norm over dims (p = 2 by default; p = inf is the max-abs norm).
Tensor norm(const Tensor& x, double p = 2.0, const Dims& dims = {}, bool keepdim = false);

// The number of inf and NaN elements in all of xs together, as a 0-dim i64 tensor on their device
// (they must share one; integer and bool tensors have none). One pass over each tensor, and nothing
// is read back to the host: on CUDA the count is added up on the device. f16/bf16 elements are
// tested as stored (16 bits), so a value that overflowed to an f16 inf counts. What a loss scaler
// checks gradients with; .item<int64_t>() on the result is the one synchronisation.
Tensor count_nonfinite(const std::vector<Tensor>& xs);

struct ValuesIndices {
  Tensor values;
  Tensor indices;  // i64
};
// Largest / smallest element along one dim and its index (the first on ties).
ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);

// Sums grad over the dims that broadcasting added or stretched, giving a tensor of `shape`.
Tensor sum_to(const Tensor& grad, const Shape& shape);
// Expands the gradient of a reduction of input_shape over dims back to input_shape.
Tensor sum_backward(const Tensor& grad, const Shape& input_shape, const Dims& dims, bool keepdim);
Tensor mean_backward(const Tensor& grad, const Shape& input_shape, const Dims& dims, bool keepdim);
// amax/amin: the gradient is shared evenly among the elements equal to the result.
Tensor amax_backward(const Tensor& grad, const Tensor& x, const Tensor& result, const Dims& dims,
                     bool keepdim);
Tensor var_backward(const Tensor& grad, const Tensor& x, const Dims& dims, int64_t correction,
                    bool keepdim);
Tensor norm_backward(const Tensor& grad, const Tensor& x, const Tensor& result, double p,
                     const Dims& dims, bool keepdim);
// max/min along dim: the gradient goes to the element at indices.
Tensor max_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape,
                    int64_t dim, bool keepdim);

}  // namespace strata
