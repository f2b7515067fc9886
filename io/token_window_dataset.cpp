// Fixed token windows (token_window_dataset.hpp); the copying is io/window_sampler's.
#include "io/token_window_dataset.hpp"

#include "core/error.hpp"
#include "io/window_sampler.hpp"

namespace strata::io {

TokenWindowDataset::TokenWindowDataset(Tensor tokens, int64_t context, int64_t stride)
    : tokens_(std::move(tokens)), context_(context), stride_(stride == 0 ? context : stride) {
  STRATA_CHECK(tokens_.dim() == 1 && tokens_.device().is_cpu() &&
                   (tokens_.dtype() == DType::i32 || tokens_.dtype() == DType::i64),
               "TokenWindowDataset: tokens are ", dtype_name(tokens_.dtype()), " ",
               shape_str(tokens_.shape()), " on ", tokens_.device().str(),
               "; expected a 1-D i32 or i64 CPU tensor");
  STRATA_CHECK(context_ > 0 && stride_ > 0, "TokenWindowDataset: context ", context_, ", stride ",
               stride, "; expected context > 0 and stride >= 0");
  STRATA_CHECK(tokens_.numel() > context_, "TokenWindowDataset: ", tokens_.numel(),
               " tokens are too few for a window of context ", context_, " + 1");
  tokens_ = tokens_.contiguous();
}

int64_t TokenWindowDataset::size() const { return (tokens_.numel() - context_ - 1) / stride_ + 1; }

Example TokenWindowDataset::get(int64_t index) const {
  Example batch = get_batch({index});
  return {batch.inputs.select(0, 0), batch.targets.select(0, 0)};
}

Example TokenWindowDataset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<int64_t> starts;
  starts.reserve(indices.size());
  for (int64_t index : indices) {
    STRATA_CHECK(index >= 0 && index < size(), "TokenWindowDataset: index ", index,
                 " is outside [0, ", size(), ")");
    starts.push_back(index * stride_);
  }
  TokenBatch batch = gather_token_windows(tokens_, starts, context_);
  return {batch.inputs, batch.targets};
}

}  // namespace strata::io
