// Dropout: nn::functional::dropout with this module's mode.
#include "nn/dropout.hpp"

#include <ostream>

#include "nn/functional.hpp"

namespace strata::nn {

Dropout::Dropout(double p) : Module("Dropout"), p(p) {
  STRATA_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return functional::dropout(x, p, is_training()); }

void Dropout::pretty_print(std::ostream& out) const { out << "Dropout(p=" << p << ")"; }

}  // namespace strata::nn
