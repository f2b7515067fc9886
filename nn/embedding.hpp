// Embedding: a lookup table, ids [...] (i32/i64) -> rows of weight [..., embedding_dim].
#pragma once

#include <cstdint>

#include "nn/module.hpp"

namespace strata::nn {

class Embedding : public Module {
 public:
  // weight ~ normal(0, 1), as PyTorch.
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  Tensor forward(const Tensor& ids) override;
  void pretty_print(std::ostream& out) const override;

  int64_t num_embeddings, embedding_dim;
  Tensor weight;  // [num_embeddings, embedding_dim]
};

}  // namespace strata::nn
