// The default batch of a dataset: one get() per index, stacked (dataset.hpp).
#include "io/dataset.hpp"

#include <exception>

#include "core/error.hpp"
#include "core/indexing.hpp"

namespace strata::io {

Example Dataset::get_batch(const std::vector<int64_t>& indices) const {
  STRATA_CHECK(!indices.empty(), "Dataset::get_batch: no indices; expected at least one");
  std::vector<Tensor> inputs, targets;
  inputs.reserve(indices.size());
  targets.reserve(indices.size());
  for (int64_t index : indices) {
    STRATA_CHECK(index >= 0 && index < size(), "Dataset::get_batch: index ", index,
                 " is outside [0, ", size(), ")");
    Example example;
    try {
      example = get(index);
    } catch (const std::exception& e) {
      fail("Dataset::get(", index, ") failed: ", e.what());
    }
    inputs.push_back(example.inputs);
    targets.push_back(example.targets);
  }
  return {stack(inputs), stack(targets)};
}

}  // namespace strata::io
