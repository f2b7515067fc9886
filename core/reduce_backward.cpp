// Backward kernels of the reductions: each maps the gradient of a reduction's result back to the
// shape of its input. They are compositions of element-wise ops (elementwise.hpp), which
// broadcast the result-shaped operands (grad, result, counts) against the input, so every device
// the element-wise ops support is supported here.
#include <cmath>

#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/reduce.hpp"
#include "core/reduce_dims.hpp"

namespace strata {
namespace {

// t (the shape of the result of reducing input_shape over dims) with the reduced dims restored
// as size 1, so that it broadcasts against the input.
Tensor as_keepdim(const char* op, const char* what, const Tensor& t, const Shape& input_shape,
                  const Dims& dims, bool keepdim) {
  STRATA_CHECK(t.defined(), op, ": ", what, " is undefined");
  std::vector<bool> mask = reduced_mask(op, input_shape, dims);
  Shape expected = result_shape(input_shape, mask, keepdim);
  STRATA_CHECK(t.shape() == expected, op, ": ", what, " has shape ", shape_str(t.shape()),
               ", expected ", shape_str(expected), " (input shape ", shape_str(input_shape),
               " reduced over dims ", dims_str(dims), keepdim ? " with" : " without", " keepdim)");
  return t.reshape(result_shape(input_shape, mask, true));
}

void check_input(const char* op, const Tensor& x) {
  STRATA_CHECK(x.defined(), op, ": input x is undefined");
  STRATA_CHECK(is_floating(x.dtype()), op, ": x has dtype ", dtype_name(x.dtype()),
               "; expected a floating dtype (f32, f64, f16, bf16)");
}

Tensor zero_like_scalar(const Tensor& t) { return zeros({}, t.options()); }

// -1, 0 or 1 by the sign of x, in x's dtype.
Tensor sign(const Tensor& x) {
  return compare(CompareOp::gt, x, 0.0).to(x.dtype()) -
         compare(CompareOp::lt, x, 0.0).to(x.dtype());
}

// grad shared evenly among the elements of x equal to their reduction's result (amax, amin,
// and the inf-norm on |x|). grad and result have keepdim shape.
Tensor share_among_ties(const Tensor& grad, const Tensor& x, const Tensor& result,
                        const Dims& dims) {
  Tensor ties = eq(x, result);
  Tensor count = sum(ties, dims, true);  // i64, >= 1 where result came from x
  return where(ties, grad / count, zero_like_scalar(grad));
}

}  // namespace

Tensor sum_backward(const Tensor& grad, const Shape& input_shape, const Dims& dims, bool keepdim) {
  Tensor g = as_keepdim("sum_backward", "grad", grad, input_shape, dims, keepdim);
  return g.expand(input_shape).contiguous();
}

Tensor mean_backward(const Tensor& grad, const Shape& input_shape, const Dims& dims, bool keepdim) {
  Tensor g = as_keepdim("mean_backward", "grad", grad, input_shape, dims, keepdim);
  int64_t count = reduced_count(input_shape, reduced_mask("mean_backward", input_shape, dims));
  return (g / static_cast<double>(count)).expand(input_shape).contiguous();
}

Tensor amax_backward(const Tensor& grad, const Tensor& x, const Tensor& result, const Dims& dims,
                     bool keepdim) {
  check_input("amax_backward", x);
  Tensor g = as_keepdim("amax_backward", "grad", grad, x.shape(), dims, keepdim);
  Tensor r = as_keepdim("amax_backward", "result", result, x.shape(), dims, keepdim);
  return share_among_ties(g, x, r, dims);
}

// d var / dx = 2 (x - mean) / (count - correction).
Tensor var_backward(const Tensor& grad, const Tensor& x, const Dims& dims, int64_t correction,
                    bool keepdim) {
  check_input("var_backward", x);
  Tensor g = as_keepdim("var_backward", "grad", grad, x.shape(), dims, keepdim);
  int64_t count = reduced_count(x.shape(), reduced_mask("var_backward", x.shape(), dims));
  double scale = 2.0 / static_cast<double>(count - correction);
  return (x - mean(x, dims, true)) * (g * scale);
}

// d |x|_p / dx = sign(x) |x|^(p-1) / |x|_p^(p-1); 0 where the norm is 0 (a subgradient).
Tensor norm_backward(const Tensor& grad, const Tensor& x, const Tensor& result, double p,
                     const Dims& dims, bool keepdim) {
  check_input("norm_backward", x);
  Tensor g = as_keepdim("norm_backward", "grad", grad, x.shape(), dims, keepdim);
  Tensor r = as_keepdim("norm_backward", "result", result, x.shape(), dims, keepdim);
  if (p == 1) return sign(x) * g;
  if (std::isinf(p)) return sign(x) * share_among_ties(g, abs(x), r, dims);
  Tensor zero = zero_like_scalar(g);
  Tensor nonzero = compare(CompareOp::ne, r, 0.0);
  if (p == 2) return x * where(nonzero, g / r, zero);
  Tensor scale = where(nonzero, g / pow(r, p - 1), zero);
  // For p < 1, |x|^(p-1) is infinite at x = 0; the subgradient 0 is used there.
  Tensor slope = where(compare(CompareOp::ne, x, 0.0), sign(x) * pow(abs(x), p - 1), zero);
  return slope * scale;
}

Tensor max_backward(const Tensor& grad, const Tensor& indices, const Shape& input_shape,
                    int64_t dim, bool keepdim) {
  Tensor g = as_keepdim("max_backward", "grad", grad, input_shape, {dim}, keepdim);
  Tensor index = as_keepdim("max_backward", "indices", indices, input_shape, {dim}, keepdim);
  STRATA_CHECK(indices.dtype() == DType::i64, "max_backward: indices have dtype ",
               dtype_name(indices.dtype()), "; expected i64 (as max and min return)");
  // Positions along dim, shaped [1, ..., size, ..., 1] to broadcast against index.
  Shape position_shape(input_shape.size(), 1);
  int64_t size = 1;
  if (!input_shape.empty()) {
    int64_t d = wrap_dim(dim, static_cast<int64_t>(input_shape.size()), "max_backward");
    size = input_shape[d];
    position_shape[d] = size;
  }
  Tensor positions = arange(static_cast<double>(size), {DType::i64, grad.device()});
  Tensor chosen = eq(positions.reshape(position_shape), index);
  return where(chosen, g, zero_like_scalar(g));
}

}  // namespace strata
