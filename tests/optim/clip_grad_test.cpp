// clip_grad_norm_: the global norm over all gradients, scaling only when above max_norm, f32
// accumulation for 16-bit gradients, and non-finite norms reported without scaling.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "strata.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

Tensor with_grad(const std::vector<float>& grad, DType dtype = DType::f32,
                 Device device = Device::cpu()) {
  Tensor p = zeros({static_cast<int64_t>(grad.size())}, {dtype, device}).requires_grad_();
  p.set_grad(from_vector(grad).to({dtype, device}));
  return p;
}

TEST_CASE("the global norm of all gradients; scaled to max_norm only when above it") {
  Tensor a = with_grad({3, 4});
  Tensor b = with_grad({12});
  Tensor no_grad = zeros({2}).requires_grad_();
  CHECK(optim::clip_grad_norm_({a, b, no_grad}, 100).item<double>() ==
        doctest::Approx(13).epsilon(1e-7));
  CHECK(a.grad().to_vector<float>() == std::vector<float>{3, 4});  // not scaled

  CHECK(optim::clip_grad_norm_({a, b}, 6.5).item<double>() == doctest::Approx(13).epsilon(1e-7));
  const double coefficient = 6.5 / (13 + 1e-6);
  CHECK(a.grad().to_vector<float>()[1] == doctest::Approx(4 * coefficient).epsilon(1e-6));
  CHECK(b.grad().to_vector<float>()[0] == doctest::Approx(12 * coefficient).epsilon(1e-6));

  Tensor c = with_grad({3, -4});
  Tensor d = with_grad({-12});
  CHECK(optim::clip_grad_norm_({c, d}, 100, 1.0).item<double>() ==
        doctest::Approx(19).epsilon(1e-7));
  CHECK(
      optim::clip_grad_norm_({c, d}, 100, std::numeric_limits<double>::infinity()).item<double>() ==
      12);
}

TEST_CASE("16-bit gradients are summed in f32, not rounded to their dtype") {
  Tensor p = with_grad({1, 1, 1}, DType::bf16);
  // sqrt(3) = 1.7320508; in bf16 the norm would be 1.734375.
  CHECK(optim::clip_grad_norm_({p}, 10).item<double>() ==
        doctest::Approx(std::sqrt(3.0)).epsilon(1e-7));
}

TEST_CASE("a non-finite norm is returned and nothing is scaled") {
  const float inf = std::numeric_limits<float>::infinity();
  for (float bad : {inf, std::numeric_limits<float>::quiet_NaN()}) {
    Tensor a = with_grad({1, 2});
    Tensor b = with_grad({bad});
    double norm = optim::clip_grad_norm_({a, b}, 1.0).item<double>();
    CHECK_FALSE(std::isfinite(norm));
    CHECK(std::isnan(norm) == std::isnan(bad));
    CHECK(a.grad().to_vector<float>() == std::vector<float>{1, 2});
    std::string message = test::error_of([&] { optim::clip_grad_norm_({a, b}, 1.0, 2.0, true); });
    CHECK(test::contains(message, "is non-finite"));
    CHECK(test::contains(message, "no gradient was changed"));
  }
}

TEST_CASE("the norm is a 0-dim f64 tensor on the gradients' device; no gradient gives 0") {
  Tensor a = with_grad({3, 4});
  Tensor norm = optim::clip_grad_norm_({a}, 1.0);
  CHECK(norm.dim() == 0);
  CHECK(norm.dtype() == DType::f64);
  CHECK(norm.device() == a.device());
  CHECK(optim::clip_grad_norm_({zeros({2}).requires_grad_()}, 1.0).item<double>() == 0);
}

TEST_CASE("clipping on CUDA equals clipping on the CPU") {
  if (!cuda_is_available()) {
    MESSAGE("no CUDA device: clip_grad_norm_ on CUDA is not checked in this run");
    return;
  }
  const float inf = std::numeric_limits<float>::infinity();
  for (DType dtype : {DType::f32, DType::bf16, DType::f64}) {
    for (double norm_type : {2.0, 1.0, std::numeric_limits<double>::infinity()}) {
      for (float last : {5.0f, inf}) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(norm_type);
        CAPTURE(last);
        Tensor a = with_grad({3, -4, 0.5f}, dtype), b = with_grad({12, last}, dtype);
        Tensor ga = with_grad({3, -4, 0.5f}, dtype, Device::cuda(0));
        Tensor gb = with_grad({12, last}, dtype, Device::cuda(0));
        Tensor cpu_norm = optim::clip_grad_norm_({a, b}, 2.0, norm_type);
        Tensor gpu_norm = optim::clip_grad_norm_({ga, gb}, 2.0, norm_type);
        CHECK(gpu_norm.device() == Device::cuda(0));
        const double c = cpu_norm.item<double>(), g = gpu_norm.item<double>();
        CHECK((c == g || (std::isnan(c) && std::isnan(g))));
        CHECK(a.grad().to_vector<double>() == ga.grad().to(Device::cpu()).to_vector<double>());
        CHECK(b.grad().to_vector<double>() == gb.grad().to(Device::cpu()).to_vector<double>());
      }
    }
  }
}

}  // namespace
}  // namespace strata
