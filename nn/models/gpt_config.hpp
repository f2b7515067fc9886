// The hyper-parameters of a GPT-2-style transformer, shared by the attention, the block and the
// model. The defaults are GPT-2 small (124M parameters).
#pragma once

#include <cstdint>

namespace strata::nn {

struct GPTConfig {
  int64_t vocab_size = 50257;
  int64_t block_size = 1024;  // the longest context
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_embd = 768;
  double dropout = 0.0;  // on embeddings, attention weights and residual branches
  bool bias = true;      // in the Linear layers and LayerNorms
};

}  // namespace strata::nn
