// Reductions beyond the op harness: dtype rules, error messages, sum_to, determinism across
// thread counts, and the accuracy of long f32 sums.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "core/factories.hpp"
#include "core/parallel.hpp"
#include "core/reduce.hpp"

namespace strata {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

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

TEST_CASE("reductions: error messages name the op, the shape and the dims") {
  Tensor x = zeros({2, 3});
  std::string out_of_range = error_of([&] { sum(x, {2}); });
  CHECK(contains(out_of_range, "sum: dim 2 is out of range for input of shape [2, 3]"));
  CHECK(contains(error_of([&] { sum(x, {1, -1}); }), "sum: dim -1 appears more than once"));
}

TEST_CASE("reductions are bit-identical with 1 and 2 threads") {
  // Shapes that take the threaded chunk paths with 2 threads: one long row, and few long columns.
  Tensor row = random_normal({1 << 20}, 1);
  Tensor columns = random_normal({1 << 17, 8}, 2);
  auto run_all = [&] {
    return std::vector<Tensor>{sum(row), sum(columns, {0}), sum(columns.t(), {1})};
  };
  int threads = get_num_threads();
  set_num_threads(1);
  std::vector<Tensor> one = run_all();
  set_num_threads(2);
  std::vector<Tensor> two = run_all();
  set_num_threads(threads);
  for (size_t i = 0; i < one.size(); ++i) {
    CHECK(std::memcmp(one[i].data_ptr(), two[i].data_ptr(), one[i].nbytes()) == 0);
  }
}

TEST_CASE("a long f32 sum stays close to the f64 sum") {
  // All positive: a plain running f32 sum stops growing long before 2^24 terms.
  Tensor x = random_tensor({1 << 24}, 3, std::uniform_real_distribution<float>(0, 1));
  double exact = sum(x.to(DType::f64)).item<double>();
  double got = sum(x).item<double>();
  CHECK(std::abs(got - exact) <= 1e-6 * std::abs(exact));
}

}  // namespace strata
