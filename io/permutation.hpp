// Seeded random permutations, identical on every machine and thread count: the shuffles behind
// the batch sampler's epochs and the train/validation split of a text corpus.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::io {

// A permutation of [0, n): Fisher-Yates, with the swap partner of position i drawn from 64 Philox
// bits keyed by seed at counter (i, stream). Different streams give independent permutations
// (the batch sampler uses one per epoch). The modulo bias is below n / 2^64.
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream = 0);

}  // namespace strata::io
