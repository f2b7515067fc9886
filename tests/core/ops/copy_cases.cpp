// Harness cases for conversion and copies: cast (Tensor::to(dtype)), copy (contiguous() of views,
// and copy_ into a strided destination with broadcasting) and fill.
#include "core/factories.hpp"
#include "op_harness.hpp"

namespace strata::test {
namespace {

const std::vector<DType> kAllTypes(std::begin(kAllDTypes), std::end(kAllDTypes));

// Rounds a reference value the way a cast to `dtype` must.
Tensor reference_cast(const Tensor& x, DType dtype) { return x.to(dtype).to(DType::f64); }

const bool registered = [] {
  for (DType target : kAllDTypes) {
    register_case({
        .op = "cast",
        .variant = std::string("to ") + std::string(dtype_name(target)),
        .dtypes = kAllTypes,
        .make_inputs =
            [](InputMaker& m, DType dtype) {
              Shape s = m.shape(0, 4, 9, true);
              return Tensors{dtype == DType::boolean ? m.mask(s)
                             : is_floating(dtype)    ? m.normal(s, dtype, 50.0)
                                                     : m.integers(s, dtype, -100, 100)};
            },
        .forward = [target](const Tensors& in) { return Tensors{in[0].to(target)}; },
        // The reference input is an exact f64 copy; one rounding to the target must match.
        .reference = [target](const Tensors& in) { return Tensors{reference_cast(in[0], target)}; },
    });
  }
  register_case({
      .op = "copy",
      .variant = "contiguous() of a strided or transposed view",
      .dtypes = kAllTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape s = m.shape(1, 5, 7, true);
            return Tensors{dtype == DType::boolean ? m.mask(s) : m.normal(s, dtype, 10.0)};
          },
      .forward =
          [](const Tensors& in) {
            return Tensors{in[0].contiguous(), in[0].clone()};
          },
      .reference =
          [](const Tensors& in) {
            return Tensors{in[0], in[0]};
          },
  });
  register_case({
      .op = "copy",
      .variant = "copy_ broadcast into a transposed destination",
      .dtypes = kAllTypes,
      .make_inputs =
          [](InputMaker& m, DType dtype) {
            Shape s = m.shape(2, 4, 6);
            return Tensors{m.normal(m.broadcastable(s), dtype, 10.0), zeros(s, {dtype})};
          },
      .forward =
          [](const Tensors& in) {
            Tensor dst =
                zeros(in[1].shape(), in[1].options()).transpose(0, 1).contiguous().transpose(0, 1);
            dst.copy_(in[0]);
            return Tensors{dst};
          },
      .reference =
          [](const Tensors& in) { return Tensors{in[0].expand(in[1].shape()).contiguous()}; },
  });
  register_case({
      .op = "fill",
      .variant = "fill_ of a strided view",
      .dtypes = kAllTypes,
      .make_inputs = [](InputMaker& m,
                        DType dtype) { return Tensors{m.normal(m.shape(0, 4, 8), dtype)}; },
      .forward =
          [](const Tensors& in) {
            Tensor t = in[0].clone();
            t.fill_(3.0);
            return Tensors{t};
          },
      // The reference input is f64 for float dtypes and keeps integer and bool dtypes.
      .reference =
          [](const Tensors& in) { return Tensors{full(in[0].shape(), 3.0, {in[0].dtype()})}; },
  });
  return true;
}();

}  // namespace
}  // namespace strata::test
