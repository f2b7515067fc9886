// Rows of two in-memory tensors (tensor_dataset.hpp).
#include "io/tensor_dataset.hpp"

#include "core/error.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"

namespace strata::io {

TensorDataset::TensorDataset(Tensor inputs, Tensor targets)
    : inputs_(std::move(inputs)), targets_(std::move(targets)) {
  STRATA_CHECK(inputs_.dim() >= 1 && targets_.dim() >= 1 && inputs_.size(0) == targets_.size(0) &&
                   inputs_.device().is_cpu() && targets_.device().is_cpu(),
               "TensorDataset: inputs ", shape_str(inputs_.shape()), " on ", inputs_.device().str(),
               ", targets ", shape_str(targets_.shape()), " on ", targets_.device().str(),
               "; expected CPU tensors with the same first dimension");
}

Example TensorDataset::get(int64_t index) const {
  STRATA_CHECK(index >= 0 && index < size(), "TensorDataset::get: index ", index,
               " is outside [0, ", size(), ")");
  return {inputs_.select(0, index), targets_.select(0, index)};
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  Tensor index = from_vector(indices);  // index_select checks the bounds
  return {index_select(inputs_, 0, index), index_select(targets_, 0, index)};
}

}  // namespace strata::io
