// A dataset held in memory as two tensors whose first dimension indexes the examples, such as
// Fashion-MNIST's images f32 [N, 1, 28, 28] and labels i64 [N] (libtorch's TensorDataset, with
// targets).
#pragma once

#include "io/dataset.hpp"

namespace strata::io {

class TensorDataset : public Dataset {
 public:
  // inputs [N, ...] and targets [N, ...] on the CPU, with the same N.
  TensorDataset(Tensor inputs, Tensor targets);

  int64_t size() const override { return inputs_.size(0); }
  // Views of row `index`: inputs [...], targets [...].
  Example get(int64_t index) const override;
  // One index_select per tensor instead of B views stacked.
  Example get_batch(const std::vector<int64_t>& indices) const override;

 private:
  Tensor inputs_;
  Tensor targets_;
};

}  // namespace strata::io
