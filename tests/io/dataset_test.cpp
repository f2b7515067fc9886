// Datasets: the default get_batch stacks get() and names a failing index; TensorDataset gives rows
// and gathers batches with index_select; TokenWindowDataset gives fixed windows by stride.
#include <doctest/doctest.h>

#include <stdexcept>
#include <vector>

#include "core/factories.hpp"
#include "io/dataset.hpp"
#include "io/tensor_dataset.hpp"
#include "io/token_window_dataset.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;

namespace {

// Example i: inputs [i, 10 i] (f32 [2]), target i (i64 []); example 3 cannot be read.
class Numbers : public io::Dataset {
 public:
  int64_t size() const override { return 5; }
  io::Example get(int64_t index) const override {
    if (index == 3) throw std::runtime_error("example 3 is damaged");
    float i = static_cast<float>(index);
    return {from_vector<float>({i, 10 * i}), from_vector<int64_t>({index}, {})};
  }
};

}  // namespace

TEST_CASE("Dataset::get_batch stacks the examples and names the index that fails") {
  Numbers numbers;
  io::Example batch = numbers.get_batch({4, 0, 2});
  CHECK(batch.inputs.shape() == Shape{3, 2});
  CHECK(batch.inputs.to_vector<float>() == std::vector<float>{4, 40, 0, 0, 2, 20});
  CHECK(batch.targets.shape() == Shape{3});
  CHECK(batch.targets.to_vector<int64_t>() == std::vector<int64_t>{4, 0, 2});
  CHECK(error_of([&] {
          numbers.get_batch({1, 3});
        }) == "Dataset::get(3) failed: example 3 is damaged");
  CHECK(contains(error_of([&] { numbers.get_batch({5}); }), "index 5 is outside [0, 5)"));
}

TEST_CASE("TensorDataset: rows of inputs and targets, batches by index_select") {
  Tensor images = arange(0, 24, 1, {DType::f32}).reshape({4, 2, 3});
  Tensor labels = from_vector<int64_t>({7, 8, 9, 6});
  io::TensorDataset data(images, labels);
  CHECK(data.size() == 4);
  io::Example second = data.get(1);
  CHECK(second.inputs.shape() == Shape{2, 3});
  CHECK(second.inputs.to_vector<float>() == std::vector<float>{6, 7, 8, 9, 10, 11});
  CHECK(second.targets.item<int64_t>() == 8);

  io::Example batch = data.get_batch({3, 1});
  CHECK(batch.inputs.shape() == Shape{2, 2, 3});
  CHECK(batch.targets.to_vector<int64_t>() == std::vector<int64_t>{6, 8});
  // The override gives what the default (get, then stack) gives.
  io::Example stacked = data.io::Dataset::get_batch({3, 1});
  CHECK(stacked.inputs.to_vector<float>() == batch.inputs.to_vector<float>());
  CHECK(stacked.targets.to_vector<int64_t>() == batch.targets.to_vector<int64_t>());

  CHECK(contains(error_of([&] { data.get(4); }), "index 4 is outside [0, 4)"));
  CHECK(contains(error_of([&] {
                   io::TensorDataset(images, from_vector<int64_t>({1, 2}));
                 }),
                 "expected CPU tensors with the same first dimension"));
}

TEST_CASE("TokenWindowDataset: windows of T + 1 tokens every stride tokens") {
  Tensor tokens = arange(0, 11, 1, {DType::i32});  // token i has value i
  io::TokenWindowDataset tiles(tokens, /*context=*/3);
  CHECK(tiles.size() == 3);  // starts 0, 3, 6; a window at 9 would need token 12
  io::Example last = tiles.get(2);
  CHECK(last.inputs.dtype() == DType::i64);
  CHECK(last.inputs.to_vector<int64_t>() == std::vector<int64_t>{6, 7, 8});
  CHECK(last.targets.to_vector<int64_t>() == std::vector<int64_t>{7, 8, 9});
  io::Example batch = tiles.get_batch({1, 0});
  CHECK(batch.inputs.shape() == Shape{2, 3});
  CHECK(batch.inputs.to_vector<int64_t>() == std::vector<int64_t>{3, 4, 5, 0, 1, 2});
  CHECK(batch.targets.to_vector<int64_t>() == std::vector<int64_t>{4, 5, 6, 1, 2, 3});

  io::TokenWindowDataset overlapping(tokens.to(DType::i64), 3, /*stride=*/2);
  CHECK(overlapping.size() == 4);  // starts 0, 2, 4, 6
  CHECK(overlapping.get(3).targets.to_vector<int64_t>() == std::vector<int64_t>{7, 8, 9});
  CHECK(io::TokenWindowDataset(arange(0, 4, 1, {DType::i64}), 3).size() == 1);

  CHECK(contains(error_of([&] { tiles.get(3); }), "index 3 is outside [0, 3)"));
  CHECK(contains(error_of([&] { io::TokenWindowDataset(arange(0, 3, 1, {DType::i64}), 3); }),
                 "3 tokens are too few for a window of context 3 + 1"));
  CHECK(contains(error_of([&] { io::TokenWindowDataset(tokens, 3, -1); }),
                 "expected context > 0 and stride >= 0"));
}
