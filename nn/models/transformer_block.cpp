// FeedForward and TransformerBlock: the residual stream of a GPT-2 layer.
#include "nn/models/transformer_block.hpp"

#include "core/nn_ops.hpp"

namespace strata::nn {

FeedForward::FeedForward(const GPTConfig& config) : Module("FeedForward") {
  c_fc = register_module("c_fc",
                         std::make_shared<Linear>(config.n_embd, 4 * config.n_embd, config.bias));
  gelu = register_module("gelu", std::make_shared<GELU>(GeluApproximation::tanh));
  c_proj = register_module("c_proj",
                           std::make_shared<Linear>(4 * config.n_embd, config.n_embd, config.bias));
  dropout = register_module("dropout", std::make_shared<Dropout>(config.dropout));
}

Tensor FeedForward::forward(const Tensor& x) { return (*dropout)((*c_proj)((*gelu)((*c_fc)(x)))); }

TransformerBlock::TransformerBlock(const GPTConfig& config) : Module("TransformerBlock") {
  ln_1 =
      register_module("ln_1", std::make_shared<LayerNorm>(config.n_embd, 1e-5, true, config.bias));
  attn = register_module("attn", std::make_shared<CausalSelfAttention>(config));
  ln_2 =
      register_module("ln_2", std::make_shared<LayerNorm>(config.n_embd, 1e-5, true, config.bias));
  mlp = register_module("mlp", std::make_shared<FeedForward>(config));
}

Tensor TransformerBlock::forward(const Tensor& x) {
  // h = x + attn(ln_1(x)) and ln_2(h) in one pass over memory (ln_2's parameters, its module
  // kept for the state_dict).
  AddLayerNormResult h =
      add_layer_norm((*attn)((*ln_1)(x)), x, ln_2->weight, ln_2->bias, ln_2->eps);
  return h.sum + (*mlp)(h.output);
}

}  // namespace strata::nn
