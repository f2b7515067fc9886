// Token windows at random or given starts (window_sampler.hpp).
#include "io/window_sampler.hpp"

#include <algorithm>

#include "core/factories.hpp"

namespace strata::io {

namespace {

void check_tokens(const char* op, const Tensor& tokens, int64_t context) {
  STRATA_CHECK(tokens.dim() == 1 && tokens.device().is_cpu() &&
                   (tokens.dtype() == DType::i32 || tokens.dtype() == DType::i64),
               op, ": tokens are ", dtype_name(tokens.dtype()), " ", shape_str(tokens.shape()),
               " on ", tokens.device().str(), "; expected a 1-D i32 or i64 CPU tensor");
  STRATA_CHECK(context > 0, op, ": context ", context, "; expected > 0");
  STRATA_CHECK(tokens.numel() > context, op, ": ", tokens.numel(),
               " tokens are too few for a window of context ", context, " + 1");
}

// The copy behind both entry points; starts already checked.
TokenBatch copy_windows(const Tensor& tokens, const int64_t* start, int64_t batch_size,
                        int64_t context) {
  TokenBatch batch{empty({batch_size, context}, {DType::i64}),
                   empty({batch_size, context}, {DType::i64})};
  int64_t* inputs = batch.inputs.data<int64_t>();
  int64_t* targets = batch.targets.data<int64_t>();
  Tensor source = tokens.contiguous();
  auto copy = [&](const auto* data) {
    for (int64_t b = 0; b < batch_size; ++b) {
      const auto* window = data + start[b];  // T + 1 tokens
      std::copy(window, window + context, inputs + b * context);
      std::copy(window + 1, window + context + 1, targets + b * context);
    }
  };
  if (source.dtype() == DType::i64)
    copy(source.data<int64_t>());
  else
    copy(source.data<int32_t>());
  return batch;
}

}  // namespace

TokenBatch sample_token_windows(const Tensor& tokens, int64_t batch_size, int64_t context,
                                Generator& gen) {
  constexpr const char* op = "sample_token_windows";
  STRATA_CHECK(batch_size > 0, op, ": batch size ", batch_size, "; expected > 0");
  check_tokens(op, tokens, context);
  Tensor starts =
      randint(0, tokens.numel() - context, {batch_size}, {DType::i64, Device::cpu()}, gen);
  return copy_windows(tokens, starts.data<int64_t>(), batch_size, context);
}

TokenBatch gather_token_windows(const Tensor& tokens, const std::vector<int64_t>& starts,
                                int64_t context) {
  constexpr const char* op = "gather_token_windows";
  check_tokens(op, tokens, context);
  const int64_t last = tokens.numel() - context - 1;
  for (int64_t start : starts) {
    STRATA_CHECK(start >= 0 && start <= last, op, ": window start ", start, " is outside [0, ",
                 last, "] for ", tokens.numel(), " tokens and context ", context);
  }
  return copy_windows(tokens, starts.data(), static_cast<int64_t>(starts.size()), context);
}

}  // namespace strata::io
