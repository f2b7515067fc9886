// Flatten: Tensor::flatten as a module.
#include "nn/flatten.hpp"

#include <ostream>

namespace strata::nn {

Flatten::Flatten(int64_t start_dim, int64_t end_dim)
    : Module("Flatten"), start_dim(start_dim), end_dim(end_dim) {}

Tensor Flatten::forward(const Tensor& x) { return x.flatten(start_dim, end_dim); }

void Flatten::pretty_print(std::ostream& out) const {
  out << "Flatten(start_dim=" << start_dim << ", end_dim=" << end_dim << ")";
}

}  // namespace strata::nn
