// One rank's share of the epoch order (distributed_sampler.hpp).
#include "io/distributed_sampler.hpp"

#include <numeric>

#include "core/error.hpp"
#include "io/permutation.hpp"

namespace strata::io {

DistributedSampler::DistributedSampler(int64_t size, DistributedSamplerOptions options)
    : size_(size), options_(options) {
  STRATA_CHECK(size >= 0, "DistributedSampler: dataset size ", size, "; expected >= 0");
  STRATA_CHECK(options.num_replicas > 0 && options.rank >= 0 && options.rank < options.num_replicas,
               "DistributedSampler: rank ", options.rank, " of ", options.num_replicas,
               " replicas; expected num_replicas > 0 and rank in [0, num_replicas)");
}

int64_t DistributedSampler::num_samples() const {
  const int64_t n = options_.num_replicas;
  return options_.drop_last ? size_ / n : (size_ + n - 1) / n;
}

std::vector<int64_t> DistributedSampler::indices(int64_t epoch) const {
  STRATA_CHECK(epoch >= 0, "DistributedSampler::indices: epoch ", epoch, "; expected >= 0");
  std::vector<int64_t> order;
  if (options_.shuffle) {
    order = random_permutation(size_, options_.seed, static_cast<uint64_t>(epoch));
  } else {
    order.resize(size_);
    std::iota(order.begin(), order.end(), 0);
  }
  const int64_t n = options_.num_replicas, count = num_samples();
  std::vector<int64_t> mine(count);
  for (int64_t i = 0; i < count; ++i) {
    // Position i * N + rank of the order, cut or padded (wrapping around) to count * N.
    mine[i] = order[(i * n + options_.rank) % size_];
  }
  return mine;
}

}  // namespace strata::io
