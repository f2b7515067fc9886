// Random token windows (window_sampler.hpp).
#include "io/window_sampler.hpp"

#include <algorithm>

#include "core/factories.hpp"

namespace strata::io {

TokenBatch sample_token_windows(const Tensor& tokens, int64_t batch_size, int64_t context,
                                Generator& gen) {
  constexpr const char* op = "sample_token_windows";
  STRATA_CHECK(tokens.dim() == 1 && tokens.device().is_cpu() &&
                   (tokens.dtype() == DType::i32 || tokens.dtype() == DType::i64),
               op, ": tokens are ", dtype_name(tokens.dtype()), " ", shape_str(tokens.shape()),
               " on ", tokens.device().str(), "; expected a 1-D i32 or i64 CPU tensor");
  STRATA_CHECK(batch_size > 0 && context > 0, op, ": batch size ", batch_size, ", context ",
               context, "; expected both > 0");
  int64_t n = tokens.numel();
  STRATA_CHECK(n > context, op, ": ", n, " tokens are too few for a window of context ", context,
               " + 1");

  Tensor starts = randint(0, n - context, {batch_size}, {DType::i64, Device::cpu()}, gen);
  TokenBatch batch{empty({batch_size, context}, {DType::i64}),
                   empty({batch_size, context}, {DType::i64})};
  const int64_t* start = starts.data<int64_t>();
  int64_t* inputs = batch.inputs.data<int64_t>();
  int64_t* targets = batch.targets.data<int64_t>();
  Tensor source = tokens.contiguous();
  auto copy_windows = [&](const auto* data) {
    for (int64_t b = 0; b < batch_size; ++b) {
      const auto* window = data + start[b];  // T + 1 tokens
      std::copy(window, window + context, inputs + b * context);
      std::copy(window + 1, window + context + 1, targets + b * context);
    }
  };
  if (source.dtype() == DType::i64)
    copy_windows(source.data<int64_t>());
  else
    copy_windows(source.data<int32_t>());
  return batch;
}

}  // namespace strata::io
