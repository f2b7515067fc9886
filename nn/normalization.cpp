// LayerNorm, RMSNorm and BatchNorm2d: parameters and buffers, forward through nn::functional.
#include "nn/normalization.hpp"

#include <ostream>

#include "core/factories.hpp"
#include "nn/functional.hpp"

namespace strata::nn {

namespace {

void check_features(const char* layer, int64_t features) {
  STRATA_CHECK(features > 0, layer, ": the number of features must be positive, got ", features);
}

void check_last_dim(const char* layer, const Tensor& x, int64_t features) {
  STRATA_CHECK(x.dim() >= 1 && x.size(-1) == features, layer, ": expected x [..., ", features,
               "], got ", shape_str(x.shape()));
}

}  // namespace

LayerNorm::LayerNorm(int64_t normalized_shape, double eps, bool elementwise_affine, bool bias)
    : Module("LayerNorm"), normalized_shape(normalized_shape), eps(eps) {
  check_features("LayerNorm", normalized_shape);
  if (elementwise_affine) {
    weight = register_parameter("weight", ones({normalized_shape}));
    if (bias) this->bias = register_parameter("bias", zeros({normalized_shape}));
  }
}

Tensor LayerNorm::forward(const Tensor& x) {
  check_last_dim("LayerNorm", x, normalized_shape);
  return functional::layer_norm(x, weight, bias, eps);
}

void LayerNorm::pretty_print(std::ostream& out) const {
  out << "LayerNorm(" << normalized_shape << ", eps=" << eps
      << ", elementwise_affine=" << (weight.defined() ? "true" : "false")
      << ", bias=" << (bias.defined() ? "true" : "false") << ")";
}

RMSNorm::RMSNorm(int64_t normalized_shape, double eps)
    : Module("RMSNorm"), normalized_shape(normalized_shape), eps(eps) {
  check_features("RMSNorm", normalized_shape);
  weight = register_parameter("weight", ones({normalized_shape}));
}

Tensor RMSNorm::forward(const Tensor& x) {
  check_last_dim("RMSNorm", x, normalized_shape);
  return functional::rms_norm(x, weight, eps);
}

void RMSNorm::pretty_print(std::ostream& out) const {
  out << "RMSNorm(" << normalized_shape << ", eps=" << eps << ")";
}

BatchNorm2d::BatchNorm2d(int64_t num_features, double eps, double momentum, bool affine,
                         bool track_running_stats)
    : Module("BatchNorm2d"), num_features(num_features), eps(eps), momentum(momentum) {
  check_features("BatchNorm2d", num_features);
  if (affine) {
    weight = register_parameter("weight", ones({num_features}));
    bias = register_parameter("bias", zeros({num_features}));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", zeros({num_features}));
    running_var = register_buffer("running_var", ones({num_features}));
  }
}

Tensor BatchNorm2d::forward(const Tensor& x) {
  STRATA_CHECK(x.dim() == 4 && x.size(1) == num_features, "BatchNorm2d: expected x [N, ",
               num_features, ", H, W], got ", shape_str(x.shape()));
  return functional::batch_norm(x, running_mean, running_var, weight, bias, is_training(), momentum,
                                eps);
}

void BatchNorm2d::pretty_print(std::ostream& out) const {
  out << "BatchNorm2d(" << num_features << ", eps=" << eps << ", momentum=" << momentum
      << ", affine=" << (weight.defined() ? "true" : "false")
      << ", track_running_stats=" << (running_mean.defined() ? "true" : "false") << ")";
}

}  // namespace strata::nn
