// The data loader: batches cut from this rank's epoch order, made in next() or by one background
// thread a few batches ahead (data_loader.hpp).
#include "io/data_loader.hpp"

#include <algorithm>
#include <type_traits>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace strata::io {

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)),
      options_(options),
      sampler_(dataset_ ? dataset_->size() : 0, {.num_replicas = options.num_replicas,
                                                 .rank = options.rank,
                                                 .shuffle = options.shuffle,
                                                 .seed = options.seed,
                                                 .drop_last = options.drop_last}) {
  STRATA_CHECK(dataset_ != nullptr, "DataLoader: no dataset");
  STRATA_CHECK(options.batch_size > 0 && options.prefetch >= 0, "DataLoader: batch size ",
               options.batch_size, ", prefetch ", options.prefetch,
               "; expected batch size > 0 and prefetch >= 0");
  const int64_t count = sampler_.num_samples(), size = options.batch_size;
  num_batches_ = options.drop_last ? count / size : (count + size - 1) / size;
}

DataLoader::~DataLoader() { stop_worker(); }

Example DataLoader::make_batch(EpochOrder& order, int64_t epoch, int64_t batch) const {
  auto where = [&] {
    return detail::concat("DataLoader: epoch ", epoch, ", batch ", batch, " of ", num_batches_,
                          " (rank ", options_.rank, " of ", options_.num_replicas, "): ");
  };
  try {
    if (order.epoch != epoch) order = {epoch, sampler_.indices(epoch)};
    const int64_t begin = batch * options_.batch_size;
    const int64_t end =
        std::min(begin + options_.batch_size, static_cast<int64_t>(order.indices.size()));
    return dataset_->get_batch({order.indices.begin() + begin, order.indices.begin() + end});
  } catch (const std::exception& e) {
    fail(where(), e.what());
  } catch (...) {
    fail(where(), "an exception that is not a std::exception");
  }
}

void DataLoader::run_worker(int64_t epoch, int64_t batch) {
  // Gathers run serially here: OpenMP's thread count belongs to the thread that sets it, so this
  // leaves the pool to training instead of starting a second team on the same cores.
  set_num_threads(1);
  EpochOrder order;
  for (;;) {
    if (batch == num_batches_) {
      ++epoch;
      batch = 0;
    }
    {
      std::unique_lock lock(mutex_);
      changed_.wait(
          lock, [&] { return stop_ || static_cast<int64_t>(queue_.size()) < options_.prefetch; });
      if (stop_) return;
    }
    Prefetched item;
    try {
      item.batch = make_batch(order, epoch, batch++);
    } catch (...) {
      item.error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    if (stop_) return;
    const bool failed = item.error != nullptr;
    queue_.push_back(std::move(item));
    changed_.notify_all();
    if (failed) return;  // next() rethrows it; the next call after that starts a new thread
  }
}

void DataLoader::stop_worker() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
  queue_.clear();
  stop_ = false;
}

std::optional<Example> DataLoader::next() {
  if (batch_ == num_batches_) {
    ++epoch_;
    batch_ = 0;
    return std::nullopt;
  }
  if (options_.prefetch == 0) {
    Example batch = make_batch(order_, epoch_, batch_);
    ++batch_;
    return batch;
  }
  if (!worker_.joinable()) worker_ = std::thread(&DataLoader::run_worker, this, epoch_, batch_);
  Prefetched item;
  {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return !queue_.empty(); });
    item = std::move(queue_.front());
    queue_.pop_front();
  }
  changed_.notify_all();
  if (item.error) {
    stop_worker();
    std::rethrow_exception(item.error);
  }
  ++batch_;
  return std::move(item.batch);
}

LoaderState DataLoader::state() const {
  return {.epoch = epoch_,
          .batch = batch_,
          .dataset_size = sampler_.size(),
          .global_batch_size = options_.batch_size * options_.num_replicas,
          .shuffle = options_.shuffle,
          .seed = options_.seed,
          .drop_last = options_.drop_last};
}

void DataLoader::load_state(const LoaderState& saved) {
  const LoaderState mine = state();
  std::string differences;
  auto shown = [](const auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, bool>)
      return value ? "true" : "false";
    else
      return value;
  };
  auto compare = [&](const char* key, const auto& was, const auto& is) {
    if (was != is)
      differences += detail::concat("\n  ", key, ": saved ", shown(was), ", here ", shown(is));
  };
  compare("dataset_size", saved.dataset_size, mine.dataset_size);
  compare("global_batch_size", saved.global_batch_size, mine.global_batch_size);
  compare("shuffle", saved.shuffle, mine.shuffle);
  compare("seed", saved.seed, mine.seed);
  compare("drop_last", saved.drop_last, mine.drop_last);
  STRATA_CHECK(differences.empty(),
               "DataLoader::load_state: the state was saved by a loader whose batches differ "
               "from this one's:",
               differences);
  STRATA_CHECK(saved.epoch >= 0 && saved.batch >= 0 && saved.batch <= num_batches_,
               "DataLoader::load_state: epoch ", saved.epoch, ", batch ", saved.batch,
               "; expected epoch >= 0 and batch in [0, ", num_batches_, "]");
  stop_worker();
  epoch_ = saved.epoch;
  batch_ = saved.batch;
}

}  // namespace strata::io
