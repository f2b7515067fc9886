// Activation layers: each forward is one core element-wise op.
#include "nn/activation.hpp"

#include <ostream>

namespace strata::nn {

GELU::GELU(GeluApproximation approximate) : Module("GELU"), approximate(approximate) {}

Tensor GELU::forward(const Tensor& x) { return gelu(x, approximate); }

void GELU::pretty_print(std::ostream& out) const {
  out << "GELU(approximate=" << (approximate == GeluApproximation::tanh ? "tanh" : "none") << ")";
}

Tensor ReLU::forward(const Tensor& x) { return relu(x); }

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

Tensor Tanh::forward(const Tensor& x) { return tanh(x); }

}  // namespace strata::nn
