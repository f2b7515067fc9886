// Embedding: the table and its lookup through core's embedding op.
#include "nn/embedding.hpp"

#include <ostream>

#include "core/factories.hpp"
#include "core/nn_ops.hpp"
#include "nn/init.hpp"

namespace strata::nn {

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim)
    : Module("Embedding"), num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  STRATA_CHECK(num_embeddings > 0 && embedding_dim > 0, "Embedding: num_embeddings (",
               num_embeddings, ") and embedding_dim (", embedding_dim, ") must be positive");
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}));
  init::normal_(weight);
}

Tensor Embedding::forward(const Tensor& ids) { return embedding(weight, ids); }

void Embedding::pretty_print(std::ostream& out) const {
  out << "Embedding(" << num_embeddings << ", " << embedding_dim << ")";
}

}  // namespace strata::nn
