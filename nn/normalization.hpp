// Normalisation layers: LayerNorm and RMSNorm over the last dim (transformers), BatchNorm2d over
// the batch and spatial dims of NCHW images (CNNs).
#pragma once

#include <cstdint>

#include "nn/module.hpp"

namespace strata::nn {

// (x - mean) / sqrt(var + eps) * weight + bias over the last dim of x [..., C].
class LayerNorm : public Module {
 public:
  LayerNorm(int64_t normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
            bool bias = true);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  int64_t normalized_shape;
  double eps;
  Tensor weight;  // [C], ones; undefined without elementwise_affine
  Tensor bias;    // [C], zeros; undefined without elementwise_affine or bias
};

// x / sqrt(mean(x^2) + eps) * weight over the last dim of x [..., C].
class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t normalized_shape, double eps = 1e-6);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  int64_t normalized_shape;
  double eps;
  Tensor weight;  // [C], ones
};

// Batch norm of x [N, C, H, W] per channel. Training: batch mean and variance, and the running
// statistics move toward them by `momentum`. Evaluation: the running statistics.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1,
                       bool affine = true, bool track_running_stats = true);
  Tensor forward(const Tensor& x) override;
  void pretty_print(std::ostream& out) const override;

  int64_t num_features;
  double eps, momentum;
  Tensor weight, bias;               // [C], ones and zeros; undefined without affine
  Tensor running_mean, running_var;  // [C] buffers, zeros and ones; undefined without tracking
};

}  // namespace strata::nn
