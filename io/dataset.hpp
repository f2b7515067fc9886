// The dataset interface, in the shape of libtorch's: size() examples, each read by get(index) as
// an Example of two CPU tensors. A batch is an Example too, its tensors stacked along a new
// leading dimension B. Datasets that can gather a batch faster than B single reads (one
// index_select, one copy of windows) override get_batch.
//
//   TensorDataset train(images, labels);       // io/tensor_dataset.hpp
//   Example first = train.get(0);              // inputs f32 [1, 28, 28], targets i64 []
//   Example batch = train.get_batch({4, 2});   // inputs f32 [2, 1, 28, 28], targets i64 [2]
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace strata::io {

// libtorch's Example<Tensor, Tensor> with the names the training loop uses: the model's input and
// what the loss compares its output with (labels, next tokens).
struct Example {
  Tensor inputs;
  Tensor targets;
};

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  // Example `index`, index in [0, size()). Called from the data loader's background thread, so it
  // must not touch state another thread changes.
  virtual Example get(int64_t index) const = 0;
  // The examples at `indices`, stacked: by default get() of each, then stack(). An exception from
  // get() comes back as a strata::Error that names the index.
  virtual Example get_batch(const std::vector<int64_t>& indices) const;
};

}  // namespace strata::io
