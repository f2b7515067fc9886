// Causal multi-head self-attention with a fused QKV projection, as GPT-2: one Linear of width 3C
// gives q, k and v; each of n_head heads attends over the positions up to its own; a Linear
// projects the heads back to C.
#pragma once

#include <memory>

#include "nn/dropout.hpp"
#include "nn/linear.hpp"
#include "nn/models/gpt_config.hpp"

namespace strata::nn {

class CausalSelfAttention : public Module {
 public:
  explicit CausalSelfAttention(const GPTConfig& config);
  // x [B, T, C] -> [B, T, C]
  Tensor forward(const Tensor& x) override;

  int64_t n_head, n_embd;
  double dropout;
  std::shared_ptr<Linear> c_attn;  // C -> 3C: q, k, v side by side
  std::shared_ptr<Linear> c_proj;  // C -> C, a residual projection
  std::shared_ptr<Dropout> resid_dropout;
};

}  // namespace strata::nn
