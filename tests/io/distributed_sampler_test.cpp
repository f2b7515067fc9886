// DistributedSampler: PyTorch's split (pad by wrapping or cut to a multiple of N, rank r takes
// every N-th position), N = 1 is the plain shuffled order, no index on two ranks in an epoch.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <vector>

#include "io/distributed_sampler.hpp"
#include "io/permutation.hpp"
#include "test_support.hpp"

using namespace strata;
using Indices = std::vector<int64_t>;

TEST_CASE("DistributedSampler with one replica is the seeded epoch permutation or 0..n-1") {
  io::DistributedSampler sampler(103, {.seed = 3});
  CHECK(sampler.num_samples() == 103);
  CHECK(sampler.indices(0) == io::random_permutation(103, 3, 0));
  CHECK(sampler.indices(1) == io::random_permutation(103, 3, 1));
  CHECK(sampler.indices(1) != sampler.indices(0));
  CHECK(io::DistributedSampler(103, {.seed = 4}).indices(0) != sampler.indices(0));

  Indices in_order(7);
  std::iota(in_order.begin(), in_order.end(), 0);
  CHECK(io::DistributedSampler(7, {.shuffle = false}).indices(5) == in_order);
  CHECK(io::DistributedSampler(0, {}).indices(0).empty());
}

TEST_CASE("DistributedSampler splits by rank: strided, padded by wrapping or cut") {
  // 10 indices in order over 4 ranks: padded to 12 with the first two, or cut to 8.
  auto split = [](bool drop_last) {
    std::vector<Indices> ranks;
    for (int64_t r = 0; r < 4; ++r) {
      ranks.push_back(
          io::DistributedSampler(
              10, {.num_replicas = 4, .rank = r, .shuffle = false, .drop_last = drop_last})
              .indices(0));
    }
    return ranks;
  };
  CHECK(split(false) == std::vector<Indices>{{0, 4, 8}, {1, 5, 9}, {2, 6, 0}, {3, 7, 1}});
  CHECK(split(true) == std::vector<Indices>{{0, 4}, {1, 5}, {2, 6}, {3, 7}});

  // Fewer indices than ranks: the padding wraps more than once.
  CHECK(io::DistributedSampler(2, {.num_replicas = 5, .rank = 4, .shuffle = false}).indices(0) ==
        Indices{0});
  CHECK(io::DistributedSampler(2, {.num_replicas = 5, .rank = 4, .drop_last = true})
            .indices(0)
            .empty());

  CHECK(test::contains(
      test::error_of([] { io::DistributedSampler(5, {.num_replicas = 2, .rank = 2}); }),
      "rank 2 of 2 replicas; expected num_replicas > 0 and rank in [0, num_replicas)"));
  CHECK(test::contains(test::error_of([] { io::DistributedSampler(5, {}).indices(-1); }),
                       "epoch -1; expected >= 0"));
}

TEST_CASE("DistributedSampler: the ranks of an epoch together read each index once") {
  for (int64_t replicas : {1, 2, 4}) {
    for (bool drop_last : {false, true}) {
      CAPTURE(replicas);
      CAPTURE(drop_last);
      const int64_t size = 1001;  // not a multiple of 2 or 4
      std::multiset<int64_t> seen;
      for (int64_t r = 0; r < replicas; ++r) {
        io::DistributedSampler sampler(
            size, {.num_replicas = replicas, .rank = r, .seed = 9, .drop_last = drop_last});
        Indices mine = sampler.indices(2);
        CHECK(static_cast<int64_t>(mine.size()) == sampler.num_samples());
        seen.insert(mine.begin(), mine.end());
      }
      const int64_t total =
          drop_last ? size / replicas * replicas : (size + replicas - 1) / replicas * replicas;
      CHECK(static_cast<int64_t>(seen.size()) == total);
      // Without padding no index repeats; the padding repeats the first total - size of the order.
      int64_t repeats = 0;
      for (auto it = seen.begin(); it != seen.end(); it = seen.upper_bound(*it))
        repeats += static_cast<int64_t>(seen.count(*it)) - 1;
      CHECK(repeats == (drop_last ? 0 : total - size));
    }
  }
}
