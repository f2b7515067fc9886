// FeedForward and TransformerBlock: the residual stream of a GPT-2 layer.
#include "nn/models/transformer_block.hpp"

#include "core/linalg.hpp"
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

Tensor FeedForward::forward(const Tensor& x) {
  // c_fc then a tanh GELU is one op, linear_gelu (on CUDA one GEMM with the GELU in its epilogue),
  // unless a hook observes either module's call.
  const bool fused =
      gelu->approximate == GeluApproximation::tanh && !c_fc->has_hooks() && !gelu->has_hooks();
  Tensor h = fused ? linear_gelu(x, c_fc->weight, c_fc->bias) : (*gelu)((*c_fc)(x));
  return (*dropout)((*c_proj)(h));
}

TransformerBlock::TransformerBlock(const GPTConfig& config) : Module("TransformerBlock") {
  ln_1 =
      register_module("ln_1", std::make_shared<LayerNorm>(config.n_embd, 1e-5, true, config.bias));
  attn = register_module("attn", std::make_shared<CausalSelfAttention>(config));
  ln_2 =
      register_module("ln_2", std::make_shared<LayerNorm>(config.n_embd, 1e-5, true, config.bias));
  mlp = register_module("mlp", std::make_shared<FeedForward>(config));
}

Tensor TransformerBlock::forward(const Tensor& x) {
  Tensor attended = (*attn)((*ln_1)(x));
  // x + attended and ln_2 of it are one op, add_layer_norm (one pass over memory, with ln_2's
  // parameters), unless a hook observes ln_2's call.
  if (ln_2->has_hooks()) {
    Tensor h = x + attended;
    return h + (*mlp)((*ln_2)(h));
  }
  AddLayerNormResult h = add_layer_norm(attended, x, ln_2->weight, ln_2->bias, ln_2->eps);
  return h.sum + (*mlp)(h.output);
}

}  // namespace strata::nn
