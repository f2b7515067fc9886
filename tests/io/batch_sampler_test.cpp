// Samplers: epoch permutations and token windows are determined by their seed, cover what they
// should, and differ between epochs and seeds.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/factories.hpp"
#include "io/batch_sampler.hpp"
#include "io/permutation.hpp"
#include "io/window_sampler.hpp"
#include "test_support.hpp"

using namespace strata;

namespace {

std::vector<int64_t> concat(const std::vector<Tensor>& batches) {
  std::vector<int64_t> all;
  for (const Tensor& batch : batches) {
    std::vector<int64_t> values = batch.to_vector<int64_t>();
    all.insert(all.end(), values.begin(), values.end());
  }
  return all;
}

}  // namespace

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
    "ShuffledBatchSampler: batches cover the dataset once per epoch, fixed by (seed, epoch)") {
  io::ShuffledBatchSampler sampler(103, 10, /*seed=*/3);
  CHECK(sampler.num_batches() == 11);
  std::vector<Tensor> epoch0 = sampler.epoch(0);
  REQUIRE(epoch0.size() == 11);
  CHECK(epoch0[0].dtype() == DType::i64);
  CHECK(epoch0[0].shape() == Shape{10});
  CHECK(epoch0[10].shape() == Shape{3});
  std::vector<int64_t> all = concat(epoch0);
  CHECK(all == io::random_permutation(103, 3, 0));
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 103; ++i) REQUIRE(all[i] == i);

  CHECK(concat(io::ShuffledBatchSampler(103, 10, 3).epoch(0)) == concat(epoch0));
  CHECK(concat(sampler.epoch(1)) != concat(epoch0));
  CHECK(concat(io::ShuffledBatchSampler(103, 10, 4).epoch(0)) != concat(epoch0));

  io::ShuffledBatchSampler dropping(103, 10, 3, /*drop_last=*/true);
  CHECK(dropping.num_batches() == 10);
  std::vector<Tensor> kept = dropping.epoch(0);
  REQUIRE(kept.size() == 10);
  for (const Tensor& batch : kept) CHECK(batch.numel() == 10);
  CHECK(test::contains(test::error_of([] { io::ShuffledBatchSampler(10, 0, 1); }),
                       "expected size >= 0 and batch size > 0"));
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
