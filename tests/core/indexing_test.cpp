// Joining and indexing ops: misuse raises errors that name the problem, and results do not depend
// on how many threads share the work.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <cmath>
#include <string>

#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/parallel.hpp"

using namespace strata;

namespace {

using strata::test::error_of;

Tensor index_i64(std::vector<int64_t> values) { return from_vector(values); }

// Deterministic values that vary along every dim.
Tensor pattern(const Shape& shape, DType dtype = DType::f32) {
  return arange(0, static_cast<double>(shape_numel(shape)), 1, {DType::f64})
      .reshape(shape)
      .to(dtype);
}

}  // namespace

TEST_CASE("out-of-range indices name the index and the valid range") {
  Tensor x = zeros({4, 5});
  CHECK(error_of([&] {
          index_select(x, 1, index_i64({0, 5}));
        }) == "index_select: index 5 is out of range for dim 1 of size 5 (valid range [0, 5))");
  CHECK(error_of([&] { index_select(x, 0, index_i64({-1})); }) ==
        "index_select: index -1 is out of range for dim 0 of size 4 (valid range [0, 4))");
  Tensor index = from_vector(std::vector<int32_t>{0, 1, 7, 2}, {4, 1});
  CHECK(error_of([&] { gather(x, 0, index); }) ==
        "gather: index 7 is out of range for dim 0 of size 4 (valid range [0, 4))");
  CHECK(error_of([&] {
          scatter(x, 0, index, ones({4, 1}));
        }) == "scatter: index 7 is out of range for dim 0 of size 4 (valid range [0, 4))");
  CHECK(error_of([&] {
          scatter_add(x, 0, index, ones({4, 1}));
        }) == "scatter_add: index 7 is out of range for dim 0 of size 4 (valid range [0, 4))");
  CHECK(error_of([&] {
          index_select_backward(ones({4, 2}), {4, 5}, 1, index_i64({1, 9}));
        }) ==
        "index_select_backward: index 9 is out of range for dim 1 of size 5 (valid range [0, 5))");
}

TEST_CASE("index dtypes and index shapes are checked") {
  Tensor x = zeros({4, 5});
  CHECK(error_of([&] { index_select(x, 0, zeros({2})); }) ==
        "index_select: index must be i32 or i64, got f32");
  CHECK(error_of([&] {
          index_select(x, 0, zeros({2, 1}, {DType::i64}));
        }) == "index_select: index must be 1-D, got shape [2, 1]");
  CHECK(error_of([&] { gather(x, 0, zeros({4}, {DType::i64})); }) ==
        "gather: index has shape [4] but x has shape [4, 5]; they must have the same rank");
  CHECK(error_of([&] {
          gather(x, 0, zeros({2, 6}, {DType::i64}));
        }) ==
        "gather: index shape [2, 6] exceeds x shape [4, 5] in dim 1 (only dim 0 may be larger)");
  CHECK(error_of([&] {
          scatter(x, 1, zeros({2, 3}, {DType::i64}), ones({2, 2}));
        }) == "scatter: index shape [2, 3] exceeds src shape [2, 2] in dim 1");
  CHECK(error_of([&] {
          scatter(x, 1, zeros({2, 2}, {DType::i64}), ones({2, 2}, {DType::f64}));
        }) == "scatter: src has dtype f64 but x has dtype f32");
  CHECK(error_of([&] {
          gather(x, 2, zeros({4, 5}, {DType::i64}));
        }) == "gather: dim 2 is out of range for a tensor of 2 dims (expected -2 <= dim < 2)");
}

TEST_CASE("cat, stack, split and chunk reject mismatched operands") {
  CHECK(
      error_of([&] {
        cat({zeros({2, 3}), zeros({2, 4})}, 0);
      }) ==
      "cat: tensor 1 has shape [2, 4] but tensor 0 has [2, 3]; shapes must match except in dim 0");
  CHECK(error_of([&] {
          cat({zeros({2, 3}), zeros({2, 3, 1})}, 1);
        }) ==
        "cat: tensor 1 has shape [2, 3, 1] but tensor 0 has [2, 3]; shapes must match except in "
        "dim 1");
  CHECK(error_of([&] {
          cat({zeros({2}), zeros({2}, {DType::i32})});
        }) == "cat: tensor 1 has dtype i32 but tensor 0 has f32; convert with .to(dtype)");
  CHECK(error_of([&] { cat({}); }) == "cat: expected at least one tensor");
  CHECK(error_of([&] {
          stack({zeros({2, 3}), zeros({3, 2})});
        }) ==
        "stack: tensor 1 has shape [3, 2] but tensor 0 has [2, 3]; stacked tensors must have "
        "equal shapes");
  CHECK(error_of([&] { split(zeros({4}), 0); }) ==
        "split: split_size must be positive, got 0 (dim 0 of shape [4])");
  CHECK(error_of([&] { chunk(zeros({4}), 0); }) == "chunk: chunks must be positive, got 0");
}

TEST_CASE("masked_fill and topk check their arguments") {
  Tensor x = zeros({2, 3});
  CHECK(error_of([&] {
          masked_fill(x, zeros({2, 3}), 1.0);
        }) == "masked_fill: mask must be bool, got f32");
  CHECK(error_of([&] {
          masked_fill(x, zeros({3, 2}, {DType::boolean}), 1.0);
        }) == "masked_fill: mask of shape [3, 2] does not broadcast to x of shape [2, 3]");
  CHECK(error_of([&] { topk(x, 4); }) ==
        "topk: k = 4 is out of range for dim 1 of size 3 (expected 0 <= k <= 3)");
  CHECK(error_of([&] { topk(zeros({3}, {DType::boolean}), 1); }) ==
        "topk: dtype bool is not supported");
}

TEST_CASE("topk orders NaN above every number and breaks ties by position") {
  const double nan = std::nan("");
  Tensor x = from_vector(std::vector<float>{1, static_cast<float>(nan), 3, 3, -1});
  ValuesIndices largest = topk(x, 3);
  CHECK(largest.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
  ValuesIndices smallest = topk(x, 5, 0, false);
  CHECK(smallest.indices.to_vector<int64_t>() == std::vector<int64_t>{4, 0, 2, 3, 1});
  ValuesIndices unsorted = topk(x, 3, 0, true, false);
  CHECK(unsorted.indices.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3});
}

TEST_CASE("split and chunk return views of the input") {
  Tensor x = pattern({5, 2});
  std::vector<Tensor> pieces = split(x, 2);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[2].shape() == Shape{1, 2});
  CHECK(pieces[1].data_ptr() == static_cast<float*>(x.data_ptr()) + 4);
  CHECK(chunk(x, 2).size() == 2);
  CHECK(chunk(x, 4).size() == 3);  // torch.chunk: pieces of ceil(5 / 4) = 2
  CHECK(chunk(zeros({0, 2}), 3).size() == 3);
}

TEST_CASE("large gathers and scatter-adds give the same bits on one thread and on all") {
  // Large enough that the kernels split the lines across the pool.
  Tensor table = pattern({300, 257}).to(DType::bf16);
  std::vector<int64_t> picks(4000);
  for (size_t i = 0; i < picks.size(); ++i) picks[i] = static_cast<int64_t>((i * 7919) % 300);
  Tensor rows = from_vector(picks);
  Tensor grad = pattern({4000, 257}).to(DType::bf16);
  Tensor cols = from_vector(std::vector<int64_t>(300 * 64, 3), {300, 64});

  auto run = [&] {
    return std::vector<Tensor>{
        index_select(table, 0, rows), index_select_backward(grad, {300, 257}, 0, rows),
        gather(table, 1, cols), scatter_add(zeros({300, 257}), 1, cols, ones({300, 64})),
        topk(table, 5, 0).values};
  };
  std::vector<Tensor> results = test::check_same_at_any_thread_count(run);
  // Spot checks against the definitions.
  CHECK(results[0].select(0, 1).to_vector<double>() ==
        table.select(0, 7919 % 300).to_vector<double>());
  CHECK(results[3].select(1, 3).to_vector<double>() == std::vector<double>(300, 64.0));
  CHECK(results[2].to_vector<double>() ==
        table.select(1, 3).unsqueeze(1).expand({300, 64}).contiguous().to_vector<double>());
}
