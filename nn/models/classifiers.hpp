// Image classifiers for the Fashion-MNIST sample: an MLP and a small CNN, both mapping images
// [N, C, H, W] (or already flat [N, features] for the MLP) to class logits [N, num_classes].
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "nn/container.hpp"

namespace strata::nn {

// Flatten -> (Linear -> ReLU -> Dropout) per hidden width -> Linear.
class MLPClassifier : public Module {
 public:
  MLPClassifier(int64_t in_features, const std::vector<int64_t>& hidden, int64_t num_classes,
                double dropout = 0.0);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Sequential> layers;
};

// For 28 x 28 images: two stages of Conv2d 3x3 (padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d(2)
// (28 -> 14 -> 7), then Flatten -> Linear(c2 * 7 * 7, hidden) -> ReLU -> Dropout -> Linear.
// The defaults have about 420K parameters.
struct CNNConfig {
  int64_t in_channels = 1;
  int64_t image_size = 28;  // square, divisible by 4
  int64_t channels1 = 32, channels2 = 64;
  int64_t hidden = 128;
  int64_t num_classes = 10;
  double dropout = 0.25;
};

class CNNClassifier : public Module {
 public:
  explicit CNNClassifier(const CNNConfig& config = {});
  Tensor forward(const Tensor& x) override;

  CNNConfig config;
  std::shared_ptr<Sequential> features;    // the two conv stages: [N, c2, size/4, size/4]
  std::shared_ptr<Sequential> classifier;  // flatten and the two Linear layers
};

}  // namespace strata::nn
