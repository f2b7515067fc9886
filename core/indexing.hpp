// Joining, splitting, gathering and scattering, masking, top-k and sampling.
#pragma once

#include <vector>

#include "core/random.hpp"
#include "core/reduce.hpp"
#include "core/tensor.hpp"

namespace strata {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
// Views of consecutive pieces of split_size along dim (the last may be smaller).
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
// `chunks` views of near-equal size along dim (as torch.chunk).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);

// x's slices along dim at index (i32/i64, 1-D).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
// Backward of index_select: a zero tensor of input_shape with grad's slices added at index.
Tensor index_select_backward(const Tensor& grad, const Shape& input_shape, int64_t dim,
                             const Tensor& index);

// out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1 (as torch.gather).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// A copy of x with src written at index along dim (as torch.scatter); last write wins in order.
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// A copy of x with src added at index along dim; deterministic.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);

// x with `value` where mask (bool, broadcast to x) is true.
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// The k largest (or smallest) elements along dim and their indices, sorted when `sorted`.
ValuesIndices topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                   bool sorted = true);

// Draws num_samples class indices per row of probs ([C] or [N, C], non-negative, any scale) with
// Philox randoms; without replacement each class is drawn at most once.
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement = false,
                   Generator& gen = default_generator());

}  // namespace strata
