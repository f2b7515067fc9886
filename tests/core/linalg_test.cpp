// Matrix products beyond the op harness: error messages, views read without copies, results that
// do not depend on the thread count, and large odd-sized products against the f64 loop.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cmath>
#include <functional>
#include <random>

#include "core/allocator.hpp"
#include "core/factories.hpp"
#include "core/linalg.hpp"
#include "core/parallel.hpp"

using namespace strata;

namespace {

Tensor random_tensor(const Shape& shape, DType dtype, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> dist;
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) v = dist(rng);
  return from_vector(values, shape).to(dtype);
}

size_t allocations_during(const std::function<void()>& fn) {
  reset_peak_memory_stats();
  fn();
  return memory_stats().allocations;
}

}  // namespace

TEST_CASE("matmul, bmm and linear errors name the op, the shapes and the problem") {
  Tensor a23 = zeros({2, 3}), a45 = zeros({4, 5});
  CHECK_THROWS_WITH_AS(matmul(a23, a45), "matmul: [2, 3] x [4, 5]: inner dims 3 and 4 differ",
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4}), zeros({5, 4, 6})),
                       "matmul: [2, 3, 4] x [5, 4, 6]: batch dims [2] and [5] do not broadcast",
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({}), zeros({3})),
                       "matmul: [] x [3]: both operands need at least 1 dim; use mul for scalars",
                       Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}), zeros({3, 2}, {DType::bf16})),
                       doctest::Contains("matmul: dtype mismatch (f32 and bf16)"), Error);
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3}, {DType::i32}), zeros({3, 2}, {DType::i32})),
                       doctest::Contains("matmul: dtype i32 is not supported"), Error);
  CHECK_THROWS_WITH_AS(bmm(zeros({2, 3}), zeros({3, 2})),
                       doctest::Contains("bmm: [2, 3] x [3, 2]: expected 3-D operands"), Error);
  CHECK_THROWS_WITH_AS(bmm(zeros({2, 3, 4}), zeros({1, 4, 2})),
                       doctest::Contains("bmm: [2, 3, 4] x [1, 4, 2]: batch sizes 2 and 1 differ"),
                       Error);
  CHECK_THROWS_WITH_AS(linear(zeros({8, 3}), zeros({5, 4})),
                       doctest::Contains("linear: input [8, 3] and weight [5, 4]"), Error);
  CHECK_THROWS_WITH_AS(linear(zeros({8, 4}), zeros({5, 4}), zeros({4})),
                       "linear: bias [4]: expected [5] (out_features)", Error);
  CHECK_THROWS_WITH_AS(matmul_backward(zeros({2, 4}), a23, zeros({3, 5})),
                       "matmul_backward: grad [2, 4], expected [2, 5] (the output of [2, 3] x [3, "
                       "5])",
                       Error);
  CHECK_THROWS_WITH_AS(linear_backward(zeros({8, 4}), zeros({8, 4}), zeros({5, 4}), true),
                       doctest::Contains("linear_backward: grad [8, 4], expected [8, 5]"), Error);
}

TEST_CASE("transposed views and batched operands reach the GEMM without copies") {
  Tensor x = random_tensor({4, 16, 32}, DType::f32, 1);  // [B, T, C]
  Tensor w = random_tensor({24, 32}, DType::f32, 2);     // [out, in]
  Tensor bias = random_tensor({24}, DType::f32, 3);
  Tensor y;
  // Only the output is allocated.
  CHECK(allocations_during([&] { y = matmul(x, w.t()); }) == 1);
  CHECK(allocations_during([&] { linear(x, w, bias); }) == 1);
  CHECK(allocations_during([&] { matmul(x.transpose(-1, -2), x); }) == 1);
  CHECK(allocations_during([&] { bmm(x, x.transpose(1, 2)); }) == 1);
  // matmul's gradients: grad_b folds the batch into the contracted dim as a view of x.
  Tensor grad = random_tensor({4, 16, 24}, DType::f32, 4);
  CHECK(allocations_during([&] { matmul_backward(grad, x, w.t()); }) == 2);
  CHECK(allocations_during([&] { linear_backward(grad, x, w, false); }) == 2);
}

TEST_CASE("the product backwards compute only the gradients asked for, unchanged") {
  Tensor x = random_tensor({3, 5, 6}, DType::f32, 1);  // [B, T, in]
  Tensor w = random_tensor({4, 6}, DType::f32, 2);     // [out, in]
  Tensor grad = random_tensor({3, 5, 4}, DType::f32, 3);
  auto same = [](const Tensor& a, const Tensor& b) {
    return a.to_vector<float>() == b.to_vector<float>();
  };
  LinearGrads all = linear_backward(grad, x, w, true);
  // A first layer: no input gradient, and nothing allocated for it.
  LinearGrads first = linear_backward(grad, x, w, true, {.input = false});
  CHECK(!first.input.defined());
  CHECK((same(first.weight, all.weight) && same(first.bias, all.bias)));
  CHECK(allocations_during([&] { linear_backward(grad, x, w, false, {.input = false}); }) == 1);
  LinearGrads frozen = linear_backward(grad, x, w, true, {.weight = false, .bias = false});
  CHECK((!frozen.weight.defined() && !frozen.bias.defined() && same(frozen.input, all.input)));

  Tensor b = random_tensor({6, 4}, DType::f32, 4);
  auto [grad_a, grad_b] = matmul_backward(grad, x, b);
  auto [only_a, no_b] = matmul_backward(grad, x, b, true, false);
  auto [no_a, only_b] = matmul_backward(grad, x, b, false, true);
  CHECK((!no_a.defined() && !no_b.defined()));
  CHECK((same(only_a, grad_a) && same(only_b, grad_b)));
}

TEST_CASE("matmul results do not depend on the thread count") {
  struct Product {
    Shape a, b;
  };
  // Square, long-K with a small output (where a library might split K), and batched.
  for (const Product& p : {Product{{96, 200}, {200, 80}}, Product{{8, 40000}, {40000, 8}},
                           Product{{6, 33, 70}, {70, 45}}}) {
    for (DType dtype : {DType::f32, DType::bf16}) {
      CAPTURE(shape_str(p.a));
      CAPTURE(dtype_name(dtype));
      Tensor a = random_tensor(p.a, dtype, 5), b = random_tensor(p.b, dtype, 6);
      test::check_same_at_any_thread_count([&] { return std::vector<Tensor>{matmul(a, b)}; });
    }
  }
}

TEST_CASE("large odd-sized products match the f64 loop in every dtype") {
  // Sizes past oneDNN's blocking, with tails in every dim; a transposed, b batched.
  Tensor a = random_tensor({131, 67}, DType::f64, 7).t();  // [67, 131] column-major
  Tensor b = random_tensor({3, 131, 259}, DType::f64, 8);  // [3, 131, 259]
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    CAPTURE(dtype_name(dtype));
    // Round the inputs first, so only the product's own error remains.
    Tensor ar = a.to(dtype), br = b.to(dtype);
    std::vector<double> exact = matmul(ar.to(DType::f64), br.to(DType::f64)).to_vector<double>();
    std::vector<double> got = matmul(ar, br).to_vector<double>();
    REQUIRE(got.size() == exact.size());
    // f32 accumulation over K = 131 terms of size ~1, then one rounding to dtype.
    double rounding = dtype == DType::f32 ? 1e-6 : dtype == DType::f16 ? 1e-3 : 8e-3;
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::abs(got[i] - exact[i]) > 1e-4 + rounding * std::abs(exact[i])) ++bad;
    }
    CHECK(bad == 0);
  }
}
