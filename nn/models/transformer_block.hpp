// The pre-LayerNorm transformer block of GPT-2:
//   x = x + attn(ln_1(x))
//   x = x + mlp(ln_2(x)),   mlp = c_proj(gelu_tanh(c_fc(.))) with a 4C hidden layer.
#pragma once

#include <memory>

#include "nn/activation.hpp"
#include "nn/dropout.hpp"
#include "nn/linear.hpp"
#include "nn/models/attention.hpp"
#include "nn/models/gpt_config.hpp"
#include "nn/normalization.hpp"

namespace strata::nn {

// The block's feed-forward network: [B, T, C] -> [B, T, 4C] -> GELU (tanh form) -> [B, T, C].
class FeedForward : public Module {
 public:
  explicit FeedForward(const GPTConfig& config);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Linear> c_fc;
  std::shared_ptr<GELU> gelu;
  std::shared_ptr<Linear> c_proj;  // a residual projection
  std::shared_ptr<Dropout> dropout;
};

class TransformerBlock : public Module {
 public:
  explicit TransformerBlock(const GPTConfig& config);
  // x [B, T, C] -> [B, T, C]
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<LayerNorm> ln_1;
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<LayerNorm> ln_2;
  std::shared_ptr<FeedForward> mlp;
};

}  // namespace strata::nn
