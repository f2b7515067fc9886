// DataLoader: batches and their order for a seed, drop_last, the split over data-parallel ranks
// (the union of one step's micro-batches is the single-process batch), the saved position and
// its JSON, the prefetch thread (same batches, errors rethrown with their index, shutdown).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/factories.hpp"
#include "core/parallel.hpp"
#include "io/data_loader.hpp"
#include "io/permutation.hpp"
#include "io/tensor_dataset.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;
using Indices = std::vector<int64_t>;

namespace {

// Example i is inputs [i] (f32) and target i (i64), so a batch shows which examples it holds.
std::shared_ptr<io::TensorDataset> numbered(int64_t size) {
  return std::make_shared<io::TensorDataset>(arange(0, size, 1, {DType::f32}).reshape({size, 1}),
                                             arange(0, size, 1, {DType::i64}));
}

// The example indices of every remaining batch of the current epoch.
std::vector<Indices> rest_of_epoch(io::DataLoader& loader) {
  std::vector<Indices> batches;
  for (const io::Example& batch : loader) {
    Indices indices = batch.targets.to_vector<int64_t>();
    std::vector<float> inputs = batch.inputs.to_vector<float>();
    REQUIRE(batch.inputs.shape() == Shape{static_cast<int64_t>(indices.size()), 1});
    for (size_t i = 0; i < indices.size(); ++i)
      REQUIRE(inputs[i] == static_cast<float>(indices[i]));
    batches.push_back(indices);
  }
  return batches;
}

// The permutation of (seed, epoch) cut into batches, as the single-process loader should give.
std::vector<Indices> expected_epoch(int64_t size, int64_t batch, uint64_t seed, int64_t epoch,
                                    bool drop_last) {
  Indices order = io::random_permutation(size, seed, static_cast<uint64_t>(epoch));
  std::vector<Indices> batches;
  for (int64_t begin = 0; begin < size; begin += batch) {
    int64_t end = std::min(begin + batch, size);
    if (drop_last && end - begin < batch) break;
    batches.emplace_back(order.begin() + begin, order.begin() + end);
  }
  return batches;
}

// Example 7 cannot be read; each read takes `delay` and records the OpenMP threads it may use.
class Fragile : public io::Dataset {
 public:
  explicit Fragile(std::chrono::milliseconds delay = {}) : delay_(delay) {}
  int64_t size() const override { return 20; }
  io::Example get(int64_t index) const override {
    threads_seen = get_num_threads();
    std::this_thread::sleep_for(delay_);
    if (index == 7) throw std::runtime_error("example 7 is damaged");
    return {from_vector<float>({static_cast<float>(index)}), from_vector<int64_t>({index}, {})};
  }

  mutable std::atomic<int> threads_seen = 0;

 private:
  std::chrono::milliseconds delay_;
};

}  // namespace

TEST_CASE(
    "DataLoader: the seeded permutation of each epoch cut into batches, with or without "
    "the short last batch") {
  for (int64_t prefetch : {0, 2}) {
    CAPTURE(prefetch);
    io::DataLoader loader(numbered(103), {.batch_size = 10, .seed = 3, .prefetch = prefetch});
    CHECK(loader.num_batches() == 11);
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      CHECK(loader.epoch() == epoch);
      CHECK(rest_of_epoch(loader) == expected_epoch(103, 10, 3, epoch, false));
    }
    io::DataLoader dropping(numbered(103),
                            {.batch_size = 10, .seed = 3, .drop_last = true, .prefetch = prefetch});
    CHECK(dropping.num_batches() == 10);
    CHECK(rest_of_epoch(dropping) == expected_epoch(103, 10, 3, 0, true));
    CHECK(rest_of_epoch(dropping) == expected_epoch(103, 10, 3, 1, true));
  }
  io::DataLoader other_seed(numbered(103), {.batch_size = 10, .seed = 4});
  CHECK(rest_of_epoch(other_seed) != expected_epoch(103, 10, 3, 0, false));

  io::DataLoader in_order(numbered(5), {.batch_size = 2, .shuffle = false});
  CHECK(rest_of_epoch(in_order) == std::vector<Indices>{{0, 1}, {2, 3}, {4}});
  // next() gives nothing once at the end of each epoch.
  CHECK(in_order.next()->targets.to_vector<int64_t>() == Indices{0, 1});

  io::DataLoader too_few(numbered(5), {.batch_size = 8, .drop_last = true});
  CHECK(too_few.num_batches() == 0);
  CHECK(!too_few.next());
  CHECK(too_few.epoch() == 1);
  CHECK(contains(error_of([] { io::DataLoader(numbered(5), {.batch_size = 0}); }),
                 "batch size 0, prefetch 2; expected batch size > 0 and prefetch >= 0"));
}

TEST_CASE(
    "DataLoader over N ranks: each step's micro-batches together are the single-process "
    "batch") {
  const int64_t size = 103, global_batch = 12;
  for (bool drop_last : {true, false}) {
    CAPTURE(drop_last);
    io::DataLoader single(numbered(size),
                          {.batch_size = global_batch, .seed = 5, .drop_last = drop_last});
    for (int64_t epoch = 0; epoch < 2; ++epoch) {
      std::vector<Indices> expected = rest_of_epoch(single);
      for (int64_t replicas : {1, 2, 4}) {
        CAPTURE(replicas);
        CAPTURE(epoch);
        std::vector<std::vector<Indices>> ranks;  // [rank][step]
        for (int64_t r = 0; r < replicas; ++r) {
          io::DataLoader loader(numbered(size), {.batch_size = global_batch / replicas,
                                                 .seed = 5,
                                                 .drop_last = drop_last,
                                                 .num_replicas = replicas,
                                                 .rank = r});
          CHECK(loader.num_batches() == single.num_batches());
          loader.load_state({.epoch = epoch,
                             .dataset_size = size,
                             .global_batch_size = global_batch,
                             .seed = 5,
                             .drop_last = drop_last});
          ranks.push_back(rest_of_epoch(loader));
        }
        std::multiset<int64_t> epoch_seen;
        for (size_t step = 0; step < expected.size(); ++step) {
          CAPTURE(step);
          std::multiset<int64_t> together;
          for (const auto& rank : ranks) together.insert(rank[step].begin(), rank[step].end());
          epoch_seen.insert(together.begin(), together.end());
          std::multiset<int64_t> want(expected[step].begin(), expected[step].end());
          if (step + 1 < expected.size() || drop_last) {
            CHECK(together == want);
          } else {
            // The short last batch (7 examples), padded to a multiple of N with the epoch's first.
            CHECK(std::includes(together.begin(), together.end(), want.begin(), want.end()));
            CHECK(together.size() == (want.size() + replicas - 1) / replicas * replicas);
          }
        }
        // No index on two ranks in one epoch, but the padding of the last step.
        const int64_t padding = drop_last ? 0 : (size + replicas - 1) / replicas * replicas - size;
        CHECK(static_cast<int64_t>(
                  epoch_seen.size() -
                  std::set<int64_t>(epoch_seen.begin(), epoch_seen.end()).size()) == padding);
      }
    }
  }
}

TEST_CASE("DataLoader: a restored position gives the batches the first loader would have given") {
  for (int64_t prefetch : {0, 3}) {
    CAPTURE(prefetch);
    const io::DataLoaderOptions options{.batch_size = 4, .seed = 11, .prefetch = prefetch};
    io::DataLoader first(numbered(30), options);  // 8 batches per epoch
    rest_of_epoch(first);
    for (int i = 0; i < 3; ++i) first.next();
    io::LoaderState saved = first.state();
    CHECK(saved == io::LoaderState{.epoch = 1,
                                   .batch = 3,
                                   .dataset_size = 30,
                                   .global_batch_size = 4,
                                   .shuffle = true,
                                   .seed = 11,
                                   .drop_last = false});
    std::string json = io::to_json(saved);
    CHECK(json == R"({"epoch": 1, "batch": 3, "dataset_size": 30, "global_batch_size": 4, )"
                  R"("shuffle": true, "seed": 11, "drop_last": false})");

    io::DataLoader resumed(numbered(30), options);
    resumed.load_state(io::loader_state_from_json(json));
    CHECK(rest_of_epoch(resumed) == rest_of_epoch(first));
    CHECK(rest_of_epoch(resumed) == rest_of_epoch(first));  // and the next epoch

    // Restoring moves a loader that was already prefetching elsewhere.
    io::DataLoader moved(numbered(30), options);
    moved.next();
    moved.load_state(saved);
    CHECK(moved.next()->targets.to_vector<int64_t>() == expected_epoch(30, 4, 11, 1, false)[3]);

    // At the end of an epoch: the resumed range-for is empty, as the first loader's was.
    io::DataLoader at_end(numbered(30), options);
    at_end.load_state(
        {.epoch = 0, .batch = 8, .dataset_size = 30, .global_batch_size = 4, .seed = 11});
    CHECK(rest_of_epoch(at_end).empty());
    CHECK(rest_of_epoch(at_end) == expected_epoch(30, 4, 11, 1, false));
  }

  // A state that another layout saved resumes when the global batch is the same.
  std::set<int64_t> together;
  for (int64_t r = 0; r < 2; ++r) {
    io::DataLoader rank(numbered(30), {.batch_size = 2, .seed = 11, .num_replicas = 2, .rank = r});
    rank.load_state(
        {.epoch = 1, .batch = 3, .dataset_size = 30, .global_batch_size = 4, .seed = 11});
    for (int64_t index : rank.next()->targets.to_vector<int64_t>()) together.insert(index);
  }
  Indices fourth = expected_epoch(30, 4, 11, 1, false)[3];
  CHECK(together == std::set<int64_t>(fourth.begin(), fourth.end()));

  io::DataLoader other(numbered(31), {.batch_size = 4, .shuffle = true, .seed = 12});
  std::string error = error_of([&] {
    other.load_state(io::LoaderState{
        .epoch = 0, .batch = 1, .dataset_size = 30, .global_batch_size = 4, .seed = 11});
  });
  CHECK(contains(error, "the state was saved by a loader whose batches differ from this one's:"));
  CHECK(contains(error, "dataset_size: saved 30, here 31"));
  CHECK(contains(error, "seed: saved 11, here 12"));
  CHECK(!contains(error, "global_batch_size"));
  CHECK(contains(
      error_of([&] {
        other.load_state(
            {.epoch = 0, .batch = 9, .dataset_size = 31, .global_batch_size = 4, .seed = 12});
      }),
      "epoch 0, batch 9; expected epoch >= 0 and batch in [0, 8]"));
  CHECK(other.state().batch == 0);
}

TEST_CASE("LoaderState JSON: a missing key or a wrong type is named") {
  CHECK(contains(error_of([] { io::loader_state_from_json(R"({"epoch": 1})"); }),
                 "missing key \"batch\""));
  CHECK(
      contains(error_of([] {
                 io::loader_state_from_json(
                     R"({"epoch": 1, "batch": "two", "dataset_size": 3, )"
                     R"("global_batch_size": 1, "shuffle": true, "seed": 0, "drop_last": false})");
               }),
               "\"batch\" is two; expected an integer"));
  CHECK(contains(error_of([] { io::loader_state_from_json("[1, 2]"); }), "expected a JSON object"));
}

TEST_CASE("DataLoader: the prefetch thread reads on one OpenMP thread, leaving the caller's") {
  const int threads = get_num_threads();
  set_num_threads(2);
  auto dataset = std::make_shared<Fragile>();
  {
    io::DataLoader loader(dataset, {.batch_size = 2, .shuffle = false, .prefetch = 1});
    loader.next();
  }  // its thread stopped
  CHECK(dataset->threads_seen == 1);
  CHECK(get_num_threads() == 2);
  io::DataLoader in_caller(dataset, {.batch_size = 2, .shuffle = false, .prefetch = 0});
  in_caller.next();
  CHECK(dataset->threads_seen == 2);
  set_num_threads(threads);
}

TEST_CASE(
    "DataLoader: an error in the dataset reaches the caller with the epoch, batch and index") {
  for (int64_t prefetch : {0, 2}) {
    CAPTURE(prefetch);
    io::DataLoader loader(std::make_shared<Fragile>(),
                          {.batch_size = 2, .shuffle = false, .prefetch = prefetch});
    CHECK(loader.next()->targets.to_vector<int64_t>() == Indices{0, 1});
    CHECK(loader.next()->targets.to_vector<int64_t>() == Indices{2, 3});
    CHECK(loader.next()->targets.to_vector<int64_t>() == Indices{4, 5});
    std::string error = error_of([&] { loader.next(); });
    CHECK(error ==
          "DataLoader: epoch 0, batch 3 of 10 (rank 0 of 1): Dataset::get(7) failed: example 7 is "
          "damaged");
    // The position stays before the batch that failed, and so does the next attempt.
    CHECK(loader.state().batch == 3);
    CHECK(error_of([&] { loader.next(); }) == error);
    loader.load_state(
        {.epoch = 0, .batch = 4, .dataset_size = 20, .global_batch_size = 2, .shuffle = false});
    CHECK(loader.next()->targets.to_vector<int64_t>() == Indices{8, 9});
  }
}

TEST_CASE(
    "DataLoader: destroying a loader while its thread prefetches does not wait for the "
    "queue") {
  auto slow = std::make_shared<Fragile>(std::chrono::milliseconds(5));
  const auto start = std::chrono::steady_clock::now();
  {
    // The thread is blocked on a full queue when the loader goes.
    io::DataLoader full(numbered(100), {.batch_size = 1, .prefetch = 2});
    full.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    // The thread is making a batch (2 x 5 ms) when the loader goes.
    io::DataLoader busy(slow, {.batch_size = 2, .shuffle = false, .prefetch = 8});
    busy.next();
  }
  {
    // The thread has failed and holds an error nobody takes.
    io::DataLoader failed(slow, {.batch_size = 4, .shuffle = false, .prefetch = 4});
    failed.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Generous: only a hang (a thread never told to stop) would come near it.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}
