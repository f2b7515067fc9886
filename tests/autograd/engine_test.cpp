// The backward engine: accumulation, retain_graph, guards, hooks, deep graphs, freeing.
#include <doctest/doctest.h>

#include <cmath>

#include "strata.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

Tensor leaf(std::vector<double> values) {
  return from_vector(values, {static_cast<int64_t>(values.size())}).requires_grad_();
}

TEST_CASE("backward of a scalar accumulates into .grad across calls") {
  Tensor x = leaf({1, 2, 3});
  Tensor loss = sum(x * x);
  loss.backward(Tensor(), /*retain_graph=*/true);
  CHECK(x.grad().to_vector<double>() == std::vector<double>{2, 4, 6});
  loss.backward();
  CHECK(x.grad().to_vector<double>() == std::vector<double>{4, 8, 12});
  CHECK(x.is_leaf());
  CHECK_FALSE(loss.is_leaf());
  CHECK(loss.grad_fn()->name() == "sum");
}

TEST_CASE("backward with a given gradient, and its errors") {
  Tensor x = leaf({1, 2});
  Tensor y = x * 3.0;
  std::string message = test::error_of([&] { y.backward(); });
  CHECK(test::contains(message, "one-element output"));
  y.backward(from_vector<double>({1, 10}, {2}));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{3, 30});

  Tensor constant = ones({2}, DType::f64);
  CHECK(test::contains(test::error_of([&] { sum(constant).backward(); }), "does not require grad"));
}

TEST_CASE("a freed graph cannot be run again") {
  Tensor x = leaf({1, 2});
  Tensor loss = sum(exp(x));
  loss.backward();
  std::string message = test::error_of([&] { loss.backward(); });
  CHECK(test::contains(message, "a second time"));
  CHECK(test::contains(message, "retain_graph"));
}

TEST_CASE("NoGradGuard and EnableGradGuard decide whether ops record") {
  Tensor x = leaf({1, 2});
  {
    autograd::NoGradGuard no_grad;
    Tensor y = x * 2.0;
    CHECK_FALSE(y.requires_grad());
    {
      autograd::EnableGradGuard enable;
      CHECK((x * 2.0).requires_grad());
    }
    CHECK_FALSE((x * 2.0).requires_grad());
  }
  CHECK((x * 2.0).requires_grad());
  CHECK_FALSE(x.detach().requires_grad());
  CHECK((x * 2.0).detach().is_leaf());
}

TEST_CASE("requires_grad_ and in-place ops are checked") {
  Tensor ids = from_vector<int64_t>({1, 2}, {2});
  CHECK(test::contains(test::error_of([&] { ids.requires_grad_(); }), "cannot require grad"));
  Tensor x = leaf({1, 2});
  CHECK(test::contains(test::error_of([&] { (x * 2.0).requires_grad_(); }), "leaves"));
  CHECK(test::contains(test::error_of([&] { x.fill_(0); }), "NoGradGuard"));
  CHECK(test::contains(test::error_of([&] { add_(x, x.detach()); }), "in-place"));
  autograd::NoGradGuard no_grad;
  add_(x, x.detach());
  CHECK(x.to_vector<double>() == std::vector<double>{2, 4});
}

TEST_CASE("tensor hooks see and may replace gradients") {
  Tensor x = leaf({1, 2});
  Tensor y = x * 2.0;
  std::vector<double> seen;
  autograd::register_hook(y, [&](const Tensor& grad) {
    seen = grad.to_vector<double>();
    return grad * 10.0;
  });
  autograd::register_hook(x, [&](const Tensor& grad) { return grad + 1.0; });
  sum(y).backward();
  CHECK(seen == std::vector<double>{1, 1});
  CHECK(x.grad().to_vector<double>() == std::vector<double>{21, 21});
}

TEST_CASE("the gradient-ready hook fires once per leaf per backward, after the last use") {
  // A tied weight: used by two ops, so two gradients meet in its accumulator.
  Tensor w = leaf({1, 2, 3});
  Tensor x = leaf({4, 5, 6});
  int w_fired = 0, x_fired = 0;
  std::vector<double> w_grad_at_hook;
  autograd::register_grad_ready_hook(w, [&](const Tensor& grad) {
    ++w_fired;
    w_grad_at_hook = grad.to_vector<double>();
  });
  autograd::register_grad_ready_hook(x, [&](const Tensor&) { ++x_fired; });
  auto step = [&] {
    Tensor first = w * x;       // dw = x
    Tensor second = w * 2.0;    // dw = 2
    Tensor third = exp(first);  // a longer path, so w's uses finish at different times
    return sum(third) + sum(second) + sum(w);
  };
  step().backward();
  CHECK(w_fired == 1);
  CHECK(x_fired == 1);
  CHECK(w_grad_at_hook == w.grad().to_vector<double>());
  step().backward();  // a second backward (gradient accumulation) fires again, once
  CHECK(w_fired == 2);
  CHECK(w_grad_at_hook == w.grad().to_vector<double>());
}

TEST_CASE("a 100,000-op chain runs backward and is freed without deep recursion") {
  Tensor x = leaf({0.5});
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.00001;
  y.backward(Tensor(), /*retain_graph=*/true);
  CHECK(x.grad().item<double>() == doctest::Approx(std::pow(1.00001, 100000)).epsilon(1e-9));
  // Destroying the retained chain (nodes and their saved tensors) must not recurse either.
  y = Tensor();
}

TEST_CASE("saved tensors are freed as soon as their node has run") {
  constexpr int64_t kElements = 1 << 20;  // 4 MiB per f32 tensor
  constexpr int kLayers = 8;
  Tensor x = randn({kElements}).requires_grad_();
  Tensor first = exp(x);  // its node saves its output
  Tensor y = first;
  for (int i = 0; i < kLayers; ++i) y = exp(y * 0.001);
  Tensor loss = sum(y);
  y = Tensor();
  auto current_bytes = [] {
    return static_cast<int64_t>(memory_stats(Device::cpu()).current_bytes);
  };
  int64_t before = current_bytes();
  int64_t when_first_reached = 0;
  autograd::register_hook(first, [&](const Tensor&) {
    when_first_reached = current_bytes();
    return Tensor();
  });
  first = Tensor();
  loss.backward();
  // By the time the gradient reaches `first`, the 2 * kLayers saved tensors after it are gone.
  CHECK(when_first_reached < before - (kLayers - 2) * kElements * 4);
}

}  // namespace
}  // namespace strata
