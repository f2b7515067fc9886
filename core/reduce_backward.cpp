// Backward kernels of the reductions: each maps the gradient of a reduction's result back to the
// shape of its input.
#include "core/reduce.hpp"
#include "core/reduce_dims.hpp"

namespace strata {
namespace {

// grad (the shape of the result of reducing input_shape over dims) as a view of input_shape:
// reduced dims restored as size 1, then expanded (stride 0).
Tensor expand_grad(const char* op, const Tensor& grad, const Shape& input_shape, const Dims& dims,
                   bool keepdim) {
  std::vector<bool> mask = reduced_mask(op, input_shape, dims);
  Shape expected = result_shape(input_shape, mask, keepdim);
  STRATA_CHECK(grad.shape() == expected, op, ": grad has shape ", shape_str(grad.shape()),
               ", expected ", shape_str(expected), " (input shape ", shape_str(input_shape),
               " reduced over dims ", dims_str(dims), keepdim ? " with" : " without", " keepdim)");
  return grad.reshape(result_shape(input_shape, mask, true)).expand(input_shape);
}

}  // namespace

Tensor sum_backward(const Tensor& grad, const Shape& input_shape, const Dims& dims, bool keepdim) {
  return expand_grad("sum_backward", grad, input_shape, dims, keepdim).contiguous();
}

}  // namespace strata
