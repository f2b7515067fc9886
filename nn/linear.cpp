// Linear: parameters, libtorch's default initialisation, forward through core's fused linear.
#include "nn/linear.hpp"

#include <cmath>
#include <ostream>

#include "core/factories.hpp"
#include "core/linalg.hpp"
#include "nn/init.hpp"

namespace strata::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : Module("Linear"), in_features(in_features), out_features(out_features) {
  STRATA_CHECK(in_features > 0 && out_features > 0, "Linear: in_features (", in_features,
               ") and out_features (", out_features, ") must be positive");
  weight = register_parameter("weight", empty({out_features, in_features}));
  if (bias) this->bias = register_parameter("bias", empty({out_features}));
  reset_parameters();
}

void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

void Linear::pretty_print(std::ostream& out) const {
  out << "Linear(in_features=" << in_features << ", out_features=" << out_features
      << ", bias=" << (bias.defined() ? "true" : "false") << ")";
}

}  // namespace strata::nn
