// Dims handling shared by the reduction front end (reduce.cpp) and the backward kernels
// (reduce_backward.cpp).
#pragma once

#include <string>
#include <vector>

#include "core/reduce.hpp"

namespace strata {

// "[0, -1]", or "[] (all dims)" for the empty list, for messages.
std::string dims_str(const Dims& dims);
// Which dims of an input of `shape` a reduction folds: the listed ones (negative counts from the
// end), or all when dims is empty; throws naming op on a dim out of range or listed twice. A 0-dim
// input accepts dim 0 or -1, as in torch.
std::vector<bool> reduced_mask(const char* op, const Shape& shape, const Dims& dims);
// The result shape: reduced dims removed, or kept as size 1 with keepdim.
Shape result_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim);
// The number of elements each output folds.
int64_t reduced_count(const Shape& shape, const std::vector<bool>& mask);

}  // namespace strata
