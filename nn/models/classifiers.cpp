// MLPClassifier and CNNClassifier: Sequentials of the library's layers.
#include "nn/models/classifiers.hpp"

#include "nn/activation.hpp"
#include "nn/conv.hpp"
#include "nn/dropout.hpp"
#include "nn/flatten.hpp"
#include "nn/linear.hpp"
#include "nn/normalization.hpp"

namespace strata::nn {

MLPClassifier::MLPClassifier(int64_t in_features, const std::vector<int64_t>& hidden,
                             int64_t num_classes, double dropout)
    : Module("MLPClassifier") {
  layers = register_module("layers", std::make_shared<Sequential>());
  layers->push_back(std::make_shared<Flatten>());
  int64_t width = in_features;
  for (int64_t next : hidden) {
    layers->push_back(std::make_shared<Linear>(width, next));
    layers->push_back(std::make_shared<ReLU>());
    if (dropout > 0) layers->push_back(std::make_shared<Dropout>(dropout));
    width = next;
  }
  layers->push_back(std::make_shared<Linear>(width, num_classes));
}

Tensor MLPClassifier::forward(const Tensor& x) { return (*layers)(x); }

CNNClassifier::CNNClassifier(const CNNConfig& config) : Module("CNNClassifier"), config(config) {
  STRATA_CHECK(config.image_size > 0 && config.image_size % 4 == 0, "CNNClassifier: image_size ",
               config.image_size, " must be a positive multiple of 4 (two 2x2 poolings)");
  const Conv2dParams same{.padding = {1, 1}};
  features = register_module(
      "features", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                      std::make_shared<Conv2d>(config.in_channels, config.channels1, 3, same),
                      std::make_shared<BatchNorm2d>(config.channels1), std::make_shared<ReLU>(),
                      std::make_shared<MaxPool2d>(2),
                      std::make_shared<Conv2d>(config.channels1, config.channels2, 3, same),
                      std::make_shared<BatchNorm2d>(config.channels2), std::make_shared<ReLU>(),
                      std::make_shared<MaxPool2d>(2)}));
  const int64_t side = config.image_size / 4;
  classifier = register_module(
      "classifier", std::make_shared<Sequential>(std::initializer_list<std::shared_ptr<Module>>{
                        std::make_shared<Flatten>(),
                        std::make_shared<Linear>(config.channels2 * side * side, config.hidden),
                        std::make_shared<ReLU>(), std::make_shared<Dropout>(config.dropout),
                        std::make_shared<Linear>(config.hidden, config.num_classes)}));
}

Tensor CNNClassifier::forward(const Tensor& x) { return (*classifier)((*features)(x)); }

}  // namespace strata::nn
