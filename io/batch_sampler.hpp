// Shuffled mini-batches of indices into an in-memory dataset (such as Fashion-MNIST's tensors).
// Each epoch is a fresh permutation that depends only on (seed, epoch), so a resumed run sees the
// batches it would have seen without stopping.
//
//   ShuffledBatchSampler sampler(images.size(0), 128, /*seed=*/1);
//   for (const Tensor& index : sampler.epoch(e)) {
//     Tensor x = index_select(images, 0, index), y = index_select(labels, 0, index);
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace strata::io {

class ShuffledBatchSampler {
 public:
  // Batches of batch_size indices into [0, size). With drop_last, the final batch of an epoch is
  // dropped when it would be shorter than batch_size; otherwise it is kept, shorter.
  ShuffledBatchSampler(int64_t size, int64_t batch_size, uint64_t seed, bool drop_last = false);

  int64_t size() const { return size_; }
  int64_t batch_size() const { return batch_size_; }
  int64_t num_batches() const;  // per epoch

  // The batches of one epoch, in order: i64 [batch_size] index tensors on the CPU.
  std::vector<Tensor> epoch(int64_t epoch) const;

 private:
  int64_t size_;
  int64_t batch_size_;
  uint64_t seed_;
  bool drop_last_;
};

}  // namespace strata::io
