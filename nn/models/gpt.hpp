// GPT: the GPT-2 architecture.
//
//   ids [B, T] -> wte(ids) + wpe(0..T-1) -> dropout -> h[0..n_layer) -> ln_f -> x wte^T -> logits
//
// The LM head is tied to the token embedding: one tensor, wte.weight [V, C], used by the lookup and
// by the output projection, so it is one parameter and its gradient receives both contributions.
// The blocks are an ordered ModuleList (h), which pipeline parallelism cuts into stages.
// Initialisation is GPT-2's: weights normal(0, 0.02), residual projections (attn.c_proj,
// mlp.c_proj) normal(0, 0.02 / sqrt(2 n_layer)), biases zero, LayerNorms one and zero; drawn from
// the default Generator, so manual_seed fixes them.
#pragma once

#include <memory>

#include "core/random.hpp"
#include "nn/container.hpp"
#include "nn/dropout.hpp"
#include "nn/embedding.hpp"
#include "nn/models/gpt_config.hpp"
#include "nn/models/transformer_block.hpp"
#include "nn/normalization.hpp"

namespace strata::nn {

class GPT : public Module {
 public:
  explicit GPT(const GPTConfig& config);

  // ids [B, T] (i32/i64, T <= block_size) -> logits [B, T, vocab_size]
  Tensor forward(const Tensor& ids) override;

  // Extends prompt_ids [B, T0] by max_new_tokens sampled tokens -> [B, T0 + max_new_tokens]. Each
  // step runs the last block_size tokens, divides the last position's logits by temperature (> 0),
  // keeps the top_k largest (0 keeps all; 1 is greedy) and samples from their softmax with gen.
  // Runs without recording and in evaluation mode (the module's mode is restored after).
  Tensor generate(const Tensor& prompt_ids, int64_t max_new_tokens, double temperature = 1.0,
                  int64_t top_k = 0, Generator& gen = default_generator());

  GPTConfig config;
  std::shared_ptr<Embedding> wte;  // token embedding [V, C], also the LM head
  std::shared_ptr<Embedding> wpe;  // position embedding [block_size, C]
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<ModuleList> h;  // n_layer TransformerBlocks
  std::shared_ptr<LayerNorm> ln_f;

 private:
  void init_weights();
};

}  // namespace strata::nn
