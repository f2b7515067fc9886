// Fashion-MNIST (Xiao et al., 2017): 28x28 grey images of clothing in 10 classes, 60,000 for
// training and 10,000 for testing, read from the IDX files of Debian's dataset-fashion-mnist.
#pragma once

#include <array>
#include <filesystem>
#include <string_view>

#include "core/tensor.hpp"

namespace strata::io {

inline constexpr std::string_view kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
inline constexpr std::array<std::string_view, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

enum class Split { train, test };

struct FashionMnist {
  Tensor images;  // f32 [N, 1, 28, 28], pixel values scaled to [0, 1]
  Tensor labels;  // i64 [N], class indices in [0, 10)
};

// The train (N = 60,000) or test (N = 10,000) split from dir, which holds
// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. When a file is missing, the error says which
// package to install.
FashionMnist load_fashion_mnist(Split split, const std::filesystem::path& dir = kFashionMnistDir);

}  // namespace strata::io
