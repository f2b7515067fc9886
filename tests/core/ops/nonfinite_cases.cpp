// Harness cases for count_nonfinite (core/reduce.hpp): lists of one to three tensors of random
// shapes and layouts with inf, -inf and NaN planted at random, and values that overflow only the
// narrower dtypes (1e5 is inf in f16, 1e39 in f32 and bf16), so every dtype's own range decides.
// The reference counts the non-finite elements of the f64 copies of the stored values.
#include <cmath>
#include <limits>

#include "core/factories.hpp"
#include "core/reduce.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

const std::vector<DType> kAllTypes(std::begin(kAllDTypes), std::end(kAllDTypes));

// Writes `value` into up to `count` elements of x chosen at random (x may be any view).
void plant(InputMaker& m, const Tensor& x, int64_t count, double value) {
  if (x.numel() == 0) return;
  for (int64_t k = 0; k < count; ++k) {
    Tensor element = x;
    for (int64_t d = 0; d < x.dim(); ++d) {
      element = element.narrow(d, m.integer(0, x.shape()[d] - 1), 1);
    }
    element.fill_(value);
  }
}

Tensor with_specials(InputMaker& m, const Shape& shape, DType dtype) {
  if (dtype == DType::boolean) return m.mask(shape);
  if (!is_floating(dtype)) return m.integers(shape, dtype, -100, 100, InputMaker::Layout::any);
  Tensor x = m.normal(shape, dtype, 100.0);
  const double inf = std::numeric_limits<double>::infinity();
  for (double value : {inf, -inf, std::nan(""), 1e5, -1e39, 6e4}) {
    if (m.coin(0.6)) plant(m, x, m.integer(1, 3), value);
  }
  return x;
}

Tensors count_reference(const Tensors& in) {
  int64_t count = 0;
  for (const Tensor& t : in) {
    if (!is_floating(t.dtype())) continue;
    for (double v : t.to_vector<double>()) count += !std::isfinite(v);
  }
  return Tensors{full({}, static_cast<double>(count), {DType::i64})};
}

Tensors count_forward(const Tensors& in) { return Tensors{count_nonfinite(in)}; }

const bool registered = [] {
  register_case({
      .op = "count_nonfinite",
      .variant = "one to three tensors of one dtype, any layout, some empty",
      .dtypes = kAllTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Tensors xs;
            for (int64_t i = m.integer(1, 3); i > 0; --i) {
              xs.push_back(with_specials(m, m.shape(0, 4, 7, true), dtype));
            }
            return xs;
          },
      .forward = count_forward,
      .reference = count_reference,
      .trials = 8,
  });
  register_case({
      .op = "count_nonfinite",
      .variant = "a long flat buffer (whole blocks and vectors, and tails) and an f16 one",
      .dtypes = kFloatTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Tensor flat = with_specials(m, {m.integer(33000, 70000)}, dtype).contiguous();
            // A view starting at an odd element: not 16-byte aligned on any device.
            Tensor shifted = with_specials(m, {m.integer(20, 300)}, DType::f16);
            return Tensors{flat, shifted.narrow(0, 1, shifted.numel() - 1)};
          },
      .forward = count_forward,
      .reference = count_reference,
  });
  return true;
}();

}  // namespace
}  // namespace strata::test
