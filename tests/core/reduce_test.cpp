// Reductions beyond the op harness: dtype rules, error messages, sum_to, determinism across
// thread counts, the accuracy of long f32 sums, and count_nonfinite's exact counts and errors.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>

#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"

namespace strata {
namespace {

using strata::test::error_of;

using strata::test::contains;

template <class Distribution>
Tensor random_tensor(const Shape& shape, uint64_t seed, Distribution dist) {
  std::mt19937_64 rng(seed);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = dist(rng);
  return from_vector(values, shape);
}

Tensor random_normal(const Shape& shape, uint64_t seed) {
  return random_tensor(shape, seed, std::normal_distribution<float>());
}

}  // namespace

TEST_CASE("sum: values, keepdim and result dtypes") {
  Tensor x = arange(6).reshape({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  CHECK(sum(x).item<double>() == 15);
  CHECK(sum(x, {0}).to_vector<float>() == std::vector<float>{3, 5, 7});
  CHECK(sum(x, {-1}).to_vector<float>() == std::vector<float>{3, 12});
  CHECK(sum(x, {1}, true).shape() == Shape{2, 1});
  CHECK(sum(x, {0, 1}, true).shape() == Shape{1, 1});
  CHECK(sum(x).shape() == Shape{});
  CHECK(sum(x.to(DType::i32)).dtype() == DType::i64);
  CHECK(sum(x.to(DType::boolean)).item<int64_t>() == 5);
  CHECK(sum(x.to(DType::bf16)).dtype() == DType::bf16);
  CHECK(sum(zeros({0, 3}), {0}).to_vector<float>() == std::vector<float>{0, 0, 0});
  CHECK(sum(full({}, 2.5)).item<double>() == 2.5);
  CHECK(sum(full({}, 2.5), {-1}).item<double>() == 2.5);
}

TEST_CASE("sum_to: sums the broadcast dims back to a shape") {
  Tensor grad = ones({4, 2, 3});
  CHECK(sum_to(grad, {4, 2, 3}).shape() == Shape{4, 2, 3});
  CHECK(sum_to(grad, {2, 3}).to_vector<float>() == std::vector<float>(6, 4));
  CHECK(sum_to(grad, {1, 3}).to_vector<float>() == std::vector<float>(3, 8));
  CHECK(sum_to(grad, {2, 1}).shape() == Shape{2, 1});
  CHECK(sum_to(grad, {4, 1, 3}).to_vector<float>() == std::vector<float>(12, 2));
  CHECK(sum_to(grad, {}).item<double>() == 24);
  CHECK(sum_to(grad, {1, 1, 1}).shape() == Shape{1, 1, 1});
  CHECK(contains(error_of([&] { sum_to(grad, {4}); }), "sum_to: shape [4] does not broadcast"));
  CHECK(contains(error_of([&] { sum_to(grad, {1, 4, 2, 3}); }), "has more dims"));
}

TEST_CASE("reductions: result dtypes") {
  for (DType dtype : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    Tensor x = ones({3, 4}, {dtype});
    CHECK(sum(x).dtype() == dtype);
    CHECK(mean(x, {0}).dtype() == dtype);
    CHECK(var(x, {1}).dtype() == dtype);
    CHECK(norm(x).dtype() == dtype);
    CHECK(amax(x).dtype() == dtype);
    CHECK(max(x, 0).values.dtype() == dtype);
    CHECK(max(x, 0).indices.dtype() == DType::i64);
    CHECK(argmin(x, 1).dtype() == DType::i64);
  }
  CHECK(sum(ones({3}, {DType::i32})).dtype() == DType::i64);
  CHECK(amax(ones({3}, {DType::i32})).dtype() == DType::i32);
  CHECK(amax(ones({3}, {DType::boolean})).dtype() == DType::boolean);
}

TEST_CASE("reductions: NaN wins amax and argmax, as in torch") {
  double nan = std::nan("");
  Tensor x = from_vector(std::vector<double>{1, nan, 3, nan}, {4});
  CHECK(std::isnan(amax(x).item<double>()));
  CHECK(std::isnan(amin(x).item<double>()));
  CHECK(argmax(x, 0).item<int64_t>() == 1);
  CHECK(argmin(x, 0).item<int64_t>() == 1);
  CHECK(std::isnan(sum(x).item<double>()));
  // Long enough for the kernels' lanes and pairwise merges.
  Tensor long_x = zeros({5000});
  long_x.narrow(0, 4000, 1).fill_(nan);
  long_x.narrow(0, 4500, 1).fill_(nan);
  CHECK(std::isnan(amax(long_x).item<double>()));
  CHECK(argmax(long_x, 0).item<int64_t>() == 4000);
}

TEST_CASE("max, min, argmax, argmin: the first index wins ties, in long rows too") {
  Tensor x = zeros({2, 3000});
  x.select(0, 0).narrow(0, 2999, 1).fill_(7);
  x.select(0, 0).narrow(0, 1234, 1).fill_(7);
  x.select(0, 1).narrow(0, 100, 1).fill_(-2);
  x.select(0, 1).narrow(0, 40, 1).fill_(-2);
  CHECK(argmax(x, 1).to_vector<int64_t>() == std::vector<int64_t>{1234, 0});
  CHECK(argmin(x, 1).to_vector<int64_t>() == std::vector<int64_t>{0, 40});
  ValuesIndices m = max(x.t(), 0, true);  // the columns layout
  CHECK(m.values.shape() == Shape{1, 2});
  CHECK(m.indices.to_vector<int64_t>() == std::vector<int64_t>{1234, 0});
  CHECK(min(x, -1).values.to_vector<float>() == std::vector<float>{0, -2});
}

TEST_CASE("reductions of empty and 0-dim tensors") {
  CHECK(sum(zeros({0})).item<double>() == 0);
  CHECK(std::isnan(mean(zeros({0})).item<double>()));
  CHECK(norm(zeros({0})).item<double>() == 0);
  CHECK(norm(zeros({0}), INFINITY).item<double>() == 0);
  CHECK(amax(zeros({0, 3}), {1}).shape() == Shape{0});
  CHECK(std::isnan(var(ones({1})).item<double>()));  // one element, correction 1
  CHECK(var(ones({1}), {}, 0).item<double>() == 0);
  CHECK(argmax(full({}, 4.0), 0).item<int64_t>() == 0);
  CHECK(max(full({}, 4.0), -1).values.item<double>() == 4);
}

TEST_CASE("var and norm values") {
  Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {2, 2});
  CHECK(var(x).item<double>() == doctest::Approx(5.0 / 3));
  CHECK(var(x, {1}, 0).to_vector<float>() == std::vector<float>{0.25f, 0.25f});
  CHECK(norm(x, 1).item<double>() == 10);
  CHECK(norm(x).item<double>() == doctest::Approx(std::sqrt(30.0)));
  CHECK(norm(x, INFINITY, {0}).to_vector<float>() == std::vector<float>{3, 4});
  CHECK(norm(x, 3).item<double>() == doctest::Approx(std::cbrt(100.0)));
  // Welford stays accurate far from zero, where sum-of-squares formulas cancel.
  Tensor shifted = add(random_normal({100000}, 4), 1e4);
  CHECK(var(shifted).item<double>() == doctest::Approx(1.0).epsilon(0.02));
}

TEST_CASE("amax_backward shares the gradient evenly among ties") {
  Tensor x = from_vector(std::vector<float>{1, 5, 5, 2, 5, 0}, {2, 3});
  Tensor r = amax(x, {1});
  Tensor dx = amax_backward(from_vector(std::vector<float>{6, 3}), x, r, {1}, false);
  CHECK(dx.to_vector<float>() == std::vector<float>{0, 3, 3, 0, 3, 0});
  Tensor whole = amax_backward(full({}, 1.0), x, amax(x), {}, false);
  CHECK(whole.to_vector<float>() == std::vector<float>{0, 1.f / 3, 1.f / 3, 0, 1.f / 3, 0});
  Tensor n = norm(x, INFINITY, {0}, true);
  Tensor dn = norm_backward(ones({1, 3}), neg(x), n, INFINITY, {0}, true);
  CHECK(dn.to_vector<float>() == std::vector<float>{0, -0.5f, -1, -1, -0.5f, 0});
}

TEST_CASE("max_backward puts the gradient at the index") {
  Tensor x = from_vector(std::vector<float>{1, 9, 3, 7, 2, 8}, {2, 3});
  ValuesIndices m = max(x, 0);
  Tensor dx =
      max_backward(from_vector(std::vector<float>{1, 2, 3}), m.indices, x.shape(), 0, false);
  CHECK(dx.to_vector<float>() == std::vector<float>{0, 2, 0, 1, 0, 3});
}

TEST_CASE("reductions: error messages name the op, the shape and the dims") {
  Tensor x = zeros({2, 3});
  Tensor i = zeros({2, 3}, {DType::i32});
  CHECK(contains(error_of([&] { sum(x, {2}); }),
                 "sum: dim 2 is out of range for input of shape [2, 3]"));
  CHECK(contains(error_of([&] { mean(x, {-3}); }), "mean: dim -3 is out of range"));
  CHECK(contains(error_of([&] {
                   sum(x, {1, -1});
                 }),
                 "sum: dim -1 appears more than once in dims [1, -1] for input of shape [2, 3]"));
  CHECK(contains(error_of([&] { mean(i); }),
                 "mean: expected a floating input (f32, f64, f16, bf16), got i32 of shape [2, 3]"));
  CHECK(contains(error_of([&] { var(i, {0}); }), "var: expected a floating input"));
  CHECK(contains(error_of([&] { norm(i); }), "norm: expected a floating input"));
  CHECK(contains(error_of([&] { norm(x, 0); }), "norm: p must be positive"));
  CHECK(contains(error_of([&] { norm(x, -1); }), "norm: p must be positive"));
  CHECK(contains(error_of([&] { var(x, {}, -1); }), "var: correction must be non-negative"));
  CHECK(contains(error_of([&] {
                   amax(zeros({0, 3}), {0});
                 }),
                 "amax: cannot reduce over dims [0] of input of shape [0, 3]"));
  CHECK(contains(error_of([&] {
                   argmax(zeros({2, 0}), -1);
                 }),
                 "argmax: cannot reduce over dims [-1] of input of shape [2, 0]"));
  CHECK(contains(error_of([&] {
                   amin(zeros({2, 0}));
                 }),
                 "amin: cannot reduce over dims [] (all dims) of input of shape [2, 0]"));
  CHECK(contains(error_of([&] { max(x, 5); }), "max: dim 5 is out of range"));
  CHECK(contains(error_of([&] {
                   sum_backward(zeros({3}), {2, 3}, {1}, false);
                 }),
                 "sum_backward: grad has shape [3], expected [2] (input shape [2, 3] reduced "
                 "over dims [1] without keepdim)"));
  CHECK(contains(error_of([&] {
                   mean_backward(zeros({2}), {2, 3}, {1}, true);
                 }),
                 "expected [2, 1]"));
  CHECK(contains(error_of([&] { var_backward(zeros({3}), i, {0}, 1, false); }),
                 "var_backward: x has dtype i32"));
  CHECK(contains(error_of([&] {
                   max_backward(zeros({3}), zeros({3}), {2, 3}, 0, false);
                 }),
                 "max_backward: indices have dtype f32; expected i64"));
}

TEST_CASE("reductions are bit-identical with 1 and 2 threads") {
  // Shapes that take the threaded chunk paths with 2 threads: one long row, and few long columns.
  // Odd sizes, so the fixed-size chunks end in a partial one.
  Tensor row = random_normal({(1 << 20) + 12345}, 1);
  Tensor columns = random_normal({(1 << 17) + 77, 8}, 2);
  Tensor grid = random_normal({512, 768}, 5);  // many outputs: split across threads
  auto run_all = [&] {
    return std::vector<Tensor>{sum(row),
                               sum(columns, {0}),
                               sum(columns.t(), {1}),
                               var(row),
                               var(columns, {0}),
                               norm(row.to(DType::bf16)),
                               mean(columns.to(DType::f16), {0}),
                               argmax(row, 0),
                               max(columns, 0).indices,
                               sum(grid, {0}),
                               sum(grid, {1}),
                               var(grid.t(), {0})};
  };
  std::vector<Tensor> two = test::check_same_at_any_thread_count(run_all);
  // And the threaded paths are right, not only repeatable (the results are the same on 2 threads).
  CHECK(two[0].item<double>() == doctest::Approx(sum(row.to(DType::f64)).item<double>()));
  std::vector<double> exact = sum(columns.to(DType::f64), {0}).to_vector<double>();
  std::vector<float> got = two[1].to_vector<float>();
  for (size_t c = 0; c < exact.size(); ++c)
    CHECK(got[c] == doctest::Approx(exact[c]).epsilon(1e-5));
}

TEST_CASE("count_nonfinite: exact counts across threads and blocks, and its errors") {
  // Past the 32K-element blocks and the threading grain, with infs, NaNs and f16 overflows
  // (1e5) at known places, some in the same block and some at the very ends.
  const int64_t n = (1 << 18) + 4321;
  std::vector<double> values(static_cast<size_t>(n), 1.5);
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<int64_t> places = {0, 1, 32767, 32768, 100000, 100001, n - 2, n - 1};
  for (size_t k = 0; k < places.size(); ++k) {
    values[static_cast<size_t>(places[k])] = k % 3 == 0 ? inf : k % 3 == 1 ? std::nan("") : 1e5;
  }
  Tensor f32 = from_vector(values);
  Tensor f16 = f32.to(DType::f16);
  std::vector<Tensor> counts = test::check_same_at_any_thread_count([&] {
    return std::vector<Tensor>{count_nonfinite({f32}), count_nonfinite({f16}),
                               count_nonfinite({f32, f16, f16.narrow(0, 1, n - 2)})};
  });
  CHECK(counts[0].item<int64_t>() == 6);  // 3 infs, 3 NaNs; 1e5 is finite in f32
  CHECK(counts[1].item<int64_t>() == 8);
  CHECK(counts[2].item<int64_t>() == 6 + 8 + 6);  // the view drops places 0 and n - 1
  CHECK(count_nonfinite({zeros({3}, {DType::i64}), zeros({0})}).item<int64_t>() == 0);

  CHECK(contains(error_of([] { count_nonfinite({}); }),
                 "count_nonfinite: expected at least one tensor, got none"));
  CHECK(contains(error_of([] {
                   count_nonfinite({zeros({2}), Tensor()});
                 }),
                 "count_nonfinite: tensor 1 of 2 is undefined"));
}

TEST_CASE("a long f32 sum stays close to the f64 sum") {
  // All positive: a plain running f32 sum stops growing long before 2^24 terms.
  Tensor x = random_tensor({1 << 24}, 3, std::uniform_real_distribution<float>(0, 1));
  double exact = sum(x.to(DType::f64)).item<double>();
  double got = sum(x).item<double>();
  CHECK(std::abs(got - exact) <= 1e-6 * std::abs(exact));
}

}  // namespace strata
