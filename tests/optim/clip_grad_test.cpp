// clip_grad_norm_: the global norm over all gradients, scaling only when above max_norm, f32
// accumulation for 16-bit gradients, and non-finite norms reported without scaling.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "strata.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

Tensor with_grad(const std::vector<float>& grad, DType dtype = DType::f32) {
  Tensor p = zeros({static_cast<int64_t>(grad.size())}, dtype).requires_grad_();
  p.set_grad(from_vector(grad).to(dtype));
  return p;
}

TEST_CASE("the global norm of all gradients; scaled to max_norm only when above it") {
  Tensor a = with_grad({3, 4});
  Tensor b = with_grad({12});
  Tensor no_grad = zeros({2}).requires_grad_();
  CHECK(optim::clip_grad_norm_({a, b, no_grad}, 100) == doctest::Approx(13).epsilon(1e-7));
  CHECK(a.grad().to_vector<float>() == std::vector<float>{3, 4});  // not scaled

  CHECK(optim::clip_grad_norm_({a, b}, 6.5) == doctest::Approx(13).epsilon(1e-7));
  const double coefficient = 6.5 / (13 + 1e-6);
  CHECK(a.grad().to_vector<float>()[1] == doctest::Approx(4 * coefficient).epsilon(1e-6));
  CHECK(b.grad().to_vector<float>()[0] == doctest::Approx(12 * coefficient).epsilon(1e-6));

  Tensor c = with_grad({3, -4});
  Tensor d = with_grad({-12});
  CHECK(optim::clip_grad_norm_({c, d}, 100, 1.0) == doctest::Approx(19).epsilon(1e-7));
  CHECK(optim::clip_grad_norm_({c, d}, 100, std::numeric_limits<double>::infinity()) == 12);
}

TEST_CASE("16-bit gradients are summed in f32, not rounded to their dtype") {
  Tensor p = with_grad({1, 1, 1}, DType::bf16);
  // sqrt(3) = 1.7320508; in bf16 the norm would be 1.734375.
  CHECK(optim::clip_grad_norm_({p}, 10) == doctest::Approx(std::sqrt(3.0)).epsilon(1e-7));
}

TEST_CASE("a non-finite norm is returned and nothing is scaled") {
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {inf, std::numeric_limits<float>::quiet_NaN()}) {
    Tensor a = with_grad({1, 2});
    Tensor b = with_grad({bad});
    double norm = optim::clip_grad_norm_({a, b}, 1.0);
    CHECK_FALSE(std::isfinite(norm));
    CHECK(std::isnan(norm) == std::isnan(bad));
    CHECK(a.grad().to_vector<float>() == std::vector<float>{1, 2});
    std::string message = test::error_of([&] { optim::clip_grad_norm_({a, b}, 1.0, 2.0, true); });
    CHECK(test::contains(message, "is non-finite"));
    CHECK(test::contains(message, "no gradient was changed"));
  }
}

}  // namespace
}  // namespace strata
