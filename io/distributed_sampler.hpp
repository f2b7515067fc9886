// The indices one data-parallel rank reads in an epoch, with PyTorch's DistributedSampler
// semantics (which DeepSpeed's loader uses):
//   1. the epoch order: random_permutation(size, seed, stream = epoch) when shuffling, otherwise
//      0, 1, ..., size - 1; the same on every rank;
//   2. made a multiple of num_replicas N: with drop_last the tail is cut to floor(size / N) * N,
//      otherwise the order is padded to ceil(size / N) * N by repeating it from its start;
//   3. rank r takes every N-th position, starting at r: order[r], order[r + N], ...
// Every rank gets num_samples() indices, and with N = 1 it is the plain (shuffled) order.
//
// Strided, not contiguous shards: cut into micro-batches of B, step k of rank r reads positions
// r + N * j for j in [kB, (k + 1)B), and the union over ranks is positions [kBN, (k + 1)BN) of
// the epoch order: the single-process batch of step k with batch BN. The global batches do not
// depend on N, so a run resumed with another data-parallel size sees the same data. Contiguous
// shards would give each N its own global batches.
#pragma once

#include <cstdint>
#include <vector>

namespace strata::io {

struct DistributedSamplerOptions {
  int64_t num_replicas = 1;  // data-parallel size N
  int64_t rank = 0;          // in [0, N)
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;  // cut the order to a multiple of N instead of padding it
};

class DistributedSampler {
 public:
  explicit DistributedSampler(int64_t size, DistributedSamplerOptions options = {});

  int64_t size() const { return size_; }  // of the dataset
  const DistributedSamplerOptions& options() const { return options_; }
  // Indices per rank per epoch: ceil(size / N), or floor(size / N) with drop_last.
  int64_t num_samples() const;

  // This rank's indices of `epoch`, in the order they are read: num_samples() of them.
  std::vector<int64_t> indices(int64_t epoch) const;

 private:
  int64_t size_;
  DistributedSamplerOptions options_;
};

}  // namespace strata::io
