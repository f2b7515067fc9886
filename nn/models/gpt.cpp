// GPT: construction with GPT-2's initialisation, the forward pass and sampling.
#include "nn/models/gpt.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd_record.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/linalg.hpp"
#include "core/nn_ops.hpp"
#include "nn/init.hpp"

namespace strata::nn {

namespace {

// Evaluation mode for a scope; the module's previous mode is restored on exit.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Module& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvalModeGuard() { module_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  Module& module_;
  bool was_training_;
};

}  // namespace

GPT::GPT(const GPTConfig& config) : Module("GPT"), config(config) {
  STRATA_CHECK(config.vocab_size > 0 && config.block_size > 0 && config.n_layer > 0,
               "GPT: vocab_size (", config.vocab_size, "), block_size (", config.block_size,
               ") and n_layer (", config.n_layer, ") must be positive");
  wte = register_module("wte", std::make_shared<Embedding>(config.vocab_size, config.n_embd));
  wpe = register_module("wpe", std::make_shared<Embedding>(config.block_size, config.n_embd));
  drop = register_module("drop", std::make_shared<Dropout>(config.dropout));
  h = register_module("h", std::make_shared<ModuleList>());
  for (int64_t layer = 0; layer < config.n_layer; ++layer) {
    h->push_back(std::make_shared<TransformerBlock>(config));
  }
  ln_f =
      register_module("ln_f", std::make_shared<LayerNorm>(config.n_embd, 1e-5, true, config.bias));
  register_external_parameter(wte->weight);  // the tied head in forward()
  init_weights();
}

void GPT::init_weights() {
  const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config.n_layer));
  std::vector<const Module*> residual_projections;
  for (const auto& module : *h) {
    auto block = std::static_pointer_cast<TransformerBlock>(module);
    residual_projections.push_back(block->attn->c_proj.get());
    residual_projections.push_back(block->mlp->c_proj.get());
  }
  for (auto& [name, module] : named_modules()) {
    if (auto* linear = dynamic_cast<Linear*>(module)) {
      bool residual = std::find(residual_projections.begin(), residual_projections.end(), module) !=
                      residual_projections.end();
      init::normal_(linear->weight, 0.0, residual ? residual_std : 0.02);
      if (linear->bias.defined()) init::zeros_(linear->bias);
    } else if (auto* embedding = dynamic_cast<Embedding*>(module)) {
      init::normal_(embedding->weight, 0.0, 0.02);
    }
  }
}

Tensor GPT::forward(const Tensor& ids) {
  STRATA_CHECK(ids.dim() == 2 && (ids.dtype() == DType::i64 || ids.dtype() == DType::i32),
               "GPT: expected token ids [B, T] of dtype i64 or i32, got ", dtype_name(ids.dtype()),
               " ", shape_str(ids.shape()));
  const int64_t time = ids.size(1);
  STRATA_CHECK(time <= config.block_size, "GPT: a sequence of ", time,
               " tokens is longer than block_size ", config.block_size,
               "; crop the context to its last block_size tokens");
  Tensor positions = arange(time, {DType::i64, ids.device()});
  Tensor x = (*drop)((*wte)(ids) + (*wpe)(positions));  // [B, T, C] + [T, C]
  for (const auto& block : *h) x = (*block)(x);
  x = (*ln_f)(x);
  return linear(x, wte->weight);  // tied head: [B, T, C] x [V, C]^T -> [B, T, V]
}

Tensor GPT::generate(const Tensor& prompt_ids, int64_t max_new_tokens, double temperature,
                     int64_t top_k, Generator& gen) {
  STRATA_CHECK(prompt_ids.dim() == 2 && prompt_ids.size(1) > 0,
               "GPT::generate: expected prompt ids [B, T0] with T0 > 0, got ",
               shape_str(prompt_ids.shape()));
  STRATA_CHECK(temperature > 0 && top_k >= 0 && max_new_tokens >= 0, "GPT::generate: expected ",
               "temperature > 0, top_k >= 0 and max_new_tokens >= 0, got ", temperature, ", ",
               top_k, ", ", max_new_tokens);
  autograd::NoGradGuard no_grad;
  EvalModeGuard eval_mode(*this);
  Tensor ids = prompt_ids.to(DType::i64);
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    const int64_t length = ids.size(1), context = std::min(length, config.block_size);
    Tensor logits = (*this)(ids.narrow(1, length - context, context));    // [B, T, V]
    logits = logits.select(1, context - 1).to(DType::f32) / temperature;  // [B, V]
    if (top_k > 0 && top_k < logits.size(1)) {
      // Logits below the k-th largest of their row can never be drawn.
      Tensor kth = topk(logits, top_k, -1).values.narrow(1, top_k - 1, 1);  // [B, 1]
      logits = masked_fill(logits, lt(logits, kth), -std::numeric_limits<double>::infinity());
    }
    Tensor next = multinomial(softmax(logits, -1), 1, /*replacement=*/false, gen);  // [B, 1]
    ids = cat({ids, next}, 1);
  }
  return ids;
}

}  // namespace strata::nn
