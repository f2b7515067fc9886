// Batches of a Dataset for training, as libtorch's and PyTorch's DataLoader: this rank's indices
// of each epoch (io/distributed_sampler.hpp: shuffled by (seed, epoch), split by data-parallel
// rank) cut into batches of batch_size, gathered by the dataset's get_batch (stacked examples),
// and prepared ahead by a background thread. The loader knows its position (epoch, batches of it
// delivered); state() and load_state() carry it across a checkpoint, so a resumed run sees
// exactly the batches it would have seen.
//
//   auto train = std::make_shared<TensorDataset>(images, labels);
//   DataLoader loader(train, {.batch_size = 128, .seed = 1, .drop_last = true});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch)
//     for (const Example& batch : loader) step(batch.inputs, batch.targets);  // one epoch
//
// next() gives the next batch of the current epoch, or nothing once the epoch is over, which also
// moves the loader to the next epoch; a range-for is the rest of the current epoch. With
// prefetch > 0, one thread makes the next `prefetch` batches while the caller trains; an
// exception it meets is thrown by the next() that would have returned that batch, as a
// strata::Error naming the epoch and batch (and, from the default get_batch, the example index).
// The thread runs the dataset's get_batch on one OpenMP thread, leaving the pool to training.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "io/dataset.hpp"
#include "io/distributed_sampler.hpp"
#include "io/loader_state.hpp"

namespace strata::io {

struct DataLoaderOptions {
  int64_t batch_size = 1;  // examples per batch on this rank (train_micro_batch_size_per_gpu)
  bool shuffle = true;     // as DeepSpeed's loader; PyTorch's DataLoader defaults to false
  uint64_t seed = 0;
  // Drops the last, short batch of an epoch. It also cuts (rather than pads) the epoch order to a
  // multiple of num_replicas, so with drop_last every rank has floor(size / (batch_size * N))
  // batches, the single-process count at batch size batch_size * N.
  bool drop_last = false;
  int64_t prefetch = 2;      // batches the background thread prepares ahead; 0: no thread
  int64_t num_replicas = 1;  // data-parallel size
  int64_t rank = 0;          // data-parallel rank
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});
  ~DataLoader();  // stops the background thread after the batch it is making
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  const DistributedSampler& sampler() const { return sampler_; }
  int64_t num_batches() const { return num_batches_; }  // per epoch, on this rank
  int64_t epoch() const { return epoch_; }

  // The next batch of the current epoch (tensors [B, ...] on the CPU; the last may be shorter
  // without drop_last), or nullopt after its last batch, which moves on to the next epoch.
  std::optional<Example> next();

  LoaderState state() const;
  // Continues from a saved state; throws, changing nothing, when the state was saved by a loader
  // whose batches differ (another dataset size, global batch size, shuffle, seed or drop_last).
  void load_state(const LoaderState& state);

  // The rest of the current epoch, for range-for.
  class Iterator {
   public:
    explicit Iterator(DataLoader& loader) : loader_(&loader) { ++*this; }
    Example& operator*() { return *current_; }
    Iterator& operator++() {
      current_ = loader_->next();
      return *this;
    }
    bool operator==(std::default_sentinel_t) const { return !current_; }

   private:
    DataLoader* loader_;
    std::optional<Example> current_;
  };
  Iterator begin() { return Iterator(*this); }
  std::default_sentinel_t end() { return {}; }

 private:
  // One epoch's indices for this rank, kept while its batches are made.
  struct EpochOrder {
    int64_t epoch = -1;
    std::vector<int64_t> indices;
  };
  // A batch from the background thread, or the error met making it.
  struct Prefetched {
    Example batch;
    std::exception_ptr error;
  };

  Example make_batch(EpochOrder& order, int64_t epoch, int64_t batch) const;
  void run_worker(int64_t epoch, int64_t batch);
  void stop_worker();

  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  DistributedSampler sampler_;
  int64_t num_batches_;

  // The caller's position: batches of epoch_ delivered.
  int64_t epoch_ = 0;
  int64_t batch_ = 0;
  EpochOrder order_;  // for batches made in next() when prefetch = 0

  // The background thread makes batches from the caller's position onwards, across epochs.
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;  // the queue or stop_ changed
  std::deque<Prefetched> queue_;     // at most options_.prefetch batches, in order
  bool stop_ = false;
};

}  // namespace strata::io
