// Views and copies are differentiable: each against finite differences with gradcheck.
#include <doctest/doctest.h>

#include "strata.hpp"

namespace strata {
namespace {

using Fn = std::function<Tensor(const Tensor&)>;

void check_view(const char* name, const Shape& shape, const Fn& fn,
                const autograd::GradcheckOptions& options = {}) {
  CAPTURE(name);
  Tensor x = randn(shape, DType::f64).requires_grad_();
  autograd::GradcheckResult result =
      autograd::gradcheck([&](const std::vector<Tensor>& in) { return fn(in[0]); }, {x}, options);
  CHECK_MESSAGE(result.ok, name, ": ", result.message);
}

TEST_CASE("every view and copy passes gradcheck") {
  // Each result is multiplied by a non-constant tensor, so a wrong element mapping shows.
  auto weighted = [](const Tensor& t) {
    return t * arange(0, static_cast<double>(t.numel()), 1, DType::f64).reshape(t.shape());
  };
  check_view("view", {2, 6}, [&](const Tensor& x) { return weighted(x.view({3, 4})); });
  check_view("reshape (copying)", {3, 4},
             [&](const Tensor& x) { return weighted(x.t().reshape({12})); });
  check_view("permute", {2, 3, 4}, [&](const Tensor& x) { return weighted(x.permute({2, 0, 1})); });
  check_view("transpose", {3, 4}, [&](const Tensor& x) { return weighted(x.transpose(0, 1)); });
  check_view("slice with step", {7, 3},
             [&](const Tensor& x) { return weighted(x.slice(0, 1, 6, 2)); });
  check_view("narrow", {5, 4}, [&](const Tensor& x) { return weighted(x.narrow(1, 1, 2)); });
  check_view("select", {4, 5}, [&](const Tensor& x) { return weighted(x.select(1, -2)); });
  check_view("expand", {3, 1}, [&](const Tensor& x) { return weighted(x.expand({2, 3, 4})); });
  check_view("squeeze", {3, 1, 2}, [&](const Tensor& x) { return weighted(x.squeeze()); });
  check_view("unsqueeze", {3, 2}, [&](const Tensor& x) { return weighted(x.unsqueeze(1)); });
  check_view("flatten", {2, 3, 2}, [&](const Tensor& x) { return weighted(x.flatten(1)); });
  check_view("contiguous", {3, 4}, [&](const Tensor& x) { return weighted(x.t().contiguous()); });
  check_view("clone", {5}, [&](const Tensor& x) { return weighted(x.clone()); });
  // Through f32 the finite differences are only as fine as f32's rounding.
  check_view("to f32 and back", {5},
             [&](const Tensor& x) { return weighted(x.to(DType::f32).to(DType::f64)); },
             {.eps = 1e-2, .atol = 1e-3, .rtol = 1e-3});
}

TEST_CASE("gradients of a 16-bit cast come back in the input's dtype") {
  Tensor x = randn({4}).requires_grad_();
  sum(x.to(DType::bf16)).backward();
  CHECK(x.grad().dtype() == DType::f32);
  CHECK(x.grad().to_vector<float>() == std::vector<float>{1, 1, 1, 1});
}

}  // namespace
}  // namespace strata
