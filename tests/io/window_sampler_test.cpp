// Epoch permutations and token windows: determined by their seed, covering what they should,
// different between epochs and seeds; windows at given starts.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/factories.hpp"
#include "io/permutation.hpp"
#include "io/window_sampler.hpp"
#include "test_support.hpp"

using namespace strata;

TEST_CASE("random_permutation is a permutation fixed by seed and stream") {
  std::vector<int64_t> p = io::random_permutation(1000, 7);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  CHECK(sorted == identity);
  CHECK(p != identity);
  CHECK(io::random_permutation(1000, 7) == p);
  CHECK(io::random_permutation(1000, 8) != p);
  CHECK(io::random_permutation(1000, 7, 1) != p);
  CHECK(io::random_permutation(0, 7).empty());
  CHECK(io::random_permutation(1, 7) == std::vector<int64_t>{0});
}

TEST_CASE(
    "sample_token_windows: targets are inputs shifted by one, fixed by the generator's seed") {
  Tensor tokens = arange(0, 500, 1, {DType::i32});  // token i has value i: windows are ranges
  Generator gen(11);
  io::TokenBatch batch = io::sample_token_windows(tokens, 4, 16, gen);
  CHECK(batch.inputs.dtype() == DType::i64);
  CHECK(batch.inputs.shape() == Shape{4, 16});
  CHECK(batch.targets.shape() == Shape{4, 16});
  std::vector<int64_t> inputs = batch.inputs.to_vector<int64_t>();
  std::vector<int64_t> targets = batch.targets.to_vector<int64_t>();
  for (int64_t b = 0; b < 4; ++b) {
    int64_t start = inputs[b * 16];
    CHECK(start + 16 < 500);  // the last target is a token of the sequence
    for (int64_t t = 0; t < 16; ++t) {
      REQUIRE(inputs[b * 16 + t] == start + t);
      REQUIRE(targets[b * 16 + t] == start + t + 1);
    }
  }

  Generator same(11);
  io::TokenBatch again = io::sample_token_windows(tokens.to(DType::i64), 4, 16, same);
  CHECK(again.inputs.to_vector<int64_t>() == inputs);
  CHECK(io::sample_token_windows(tokens, 4, 16, gen).inputs.to_vector<int64_t>() != inputs);

  // With n = T + 1 the only window is the whole sequence.
  Generator any(1);
  io::TokenBatch whole = io::sample_token_windows(arange(0, 9, 1, {DType::i64}), 2, 8, any);
  CHECK(whole.targets.to_vector<int64_t>() ==
        std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(test::contains(
      test::error_of([&] { io::sample_token_windows(arange(0, 8, 1, {DType::i64}), 2, 8, any); }),
      "8 tokens are too few for a window of context 8 + 1"));
}

TEST_CASE("gather_token_windows: the windows at the given starts, which must fit") {
  Tensor tokens = arange(0, 20, 1, {DType::i32});
  io::TokenBatch batch = io::gather_token_windows(tokens, {0, 16, 5}, 3);
  CHECK(batch.inputs.shape() == Shape{3, 3});
  CHECK(batch.inputs.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 16, 17, 18, 5, 6, 7});
  CHECK(batch.targets.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 3, 17, 18, 19, 6, 7, 8});
  CHECK(test::contains(test::error_of([&] { io::gather_token_windows(tokens, {17}, 3); }),
                       "window start 17 is outside [0, 16] for 20 tokens and context 3"));
}
