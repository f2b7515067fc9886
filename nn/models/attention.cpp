// CausalSelfAttention: split the fused projection into heads, attend, merge the heads.
#include "nn/models/attention.hpp"

#include "nn/functional.hpp"

namespace strata::nn {

CausalSelfAttention::CausalSelfAttention(const GPTConfig& config)
    : Module("CausalSelfAttention"),
      n_head(config.n_head),
      n_embd(config.n_embd),
      dropout(config.dropout) {
  STRATA_CHECK(config.n_head > 0 && config.n_embd % config.n_head == 0,
               "CausalSelfAttention: n_embd (", config.n_embd, ") must be a multiple of n_head (",
               config.n_head, ")");
  c_attn = register_module("c_attn", std::make_shared<Linear>(n_embd, 3 * n_embd, config.bias));
  c_proj = register_module("c_proj", std::make_shared<Linear>(n_embd, n_embd, config.bias));
  resid_dropout = register_module("resid_dropout", std::make_shared<Dropout>(config.dropout));
}

Tensor CausalSelfAttention::forward(const Tensor& x) {
  STRATA_CHECK(x.dim() == 3 && x.size(2) == n_embd, "CausalSelfAttention: expected x [B, T, ",
               n_embd, "], got ", shape_str(x.shape()));
  const int64_t batch = x.size(0), time = x.size(1), head_size = n_embd / n_head;
  Tensor qkv = (*c_attn)(x);  // [B, T, 3C]
  // [B, T, C] slice -> [B, n_head, T, head_size], views of qkv.
  auto heads = [&](int64_t which) {
    return qkv.narrow(2, which * n_embd, n_embd)
        .view({batch, time, n_head, head_size})
        .transpose(1, 2);
  };
  Tensor y =
      functional::scaled_dot_product_attention(heads(0), heads(1), heads(2),
                                               /*is_causal=*/true, is_training() ? dropout : 0.0);
  y = y.transpose(1, 2).reshape({batch, time, n_embd});  // heads side by side again
  return (*resid_dropout)((*c_proj)(y));
}

}  // namespace strata::nn
