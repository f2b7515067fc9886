// The epoch permutation cut into batches (batch_sampler.hpp).
#include "io/batch_sampler.hpp"

#include <algorithm>

#include "core/factories.hpp"
#include "io/permutation.hpp"

namespace strata::io {

ShuffledBatchSampler::ShuffledBatchSampler(int64_t size, int64_t batch_size, uint64_t seed,
                                           bool drop_last)
    : size_(size), batch_size_(batch_size), seed_(seed), drop_last_(drop_last) {
  STRATA_CHECK(size >= 0 && batch_size > 0, "ShuffledBatchSampler: size ", size, ", batch size ",
               batch_size, "; expected size >= 0 and batch size > 0");
}

int64_t ShuffledBatchSampler::num_batches() const {
  return drop_last_ ? size_ / batch_size_ : (size_ + batch_size_ - 1) / batch_size_;
}

std::vector<Tensor> ShuffledBatchSampler::epoch(int64_t epoch) const {
  STRATA_CHECK(epoch >= 0, "ShuffledBatchSampler::epoch: epoch ", epoch, "; expected >= 0");
  Tensor order = from_vector(random_permutation(size_, seed_, static_cast<uint64_t>(epoch)));
  std::vector<Tensor> batches;
  for (int64_t b = 0; b < num_batches(); ++b) {
    int64_t start = b * batch_size_;
    batches.push_back(order.narrow(0, start, std::min(batch_size_, size_ - start)));
  }
  return batches;
}

}  // namespace strata::io
