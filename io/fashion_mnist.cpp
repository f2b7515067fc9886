// Fashion-MNIST loader (fashion_mnist.hpp): two IDX files per split, checked against each other.
#include "io/fashion_mnist.hpp"

#include <algorithm>
#include <string>

#include "core/factories.hpp"
#include "io/idx.hpp"

namespace strata::io {
namespace {

constexpr const char* kOp = "load_fashion_mnist";

std::filesystem::path dataset_file(const std::filesystem::path& dir, const std::string& name) {
  std::filesystem::path path = dir / name;
  STRATA_CHECK(std::filesystem::exists(path), kOp, ": ", path,
               " does not exist; install Debian's Fashion-MNIST package with `sudo apt-get "
               "install dataset-fashion-mnist` (or run scripts/setup.sh), or pass the directory "
               "that holds the IDX files");
  return path;
}

}  // namespace

FashionMnist load_fashion_mnist(Split split, const std::filesystem::path& dir) {
  std::string prefix = split == Split::train ? "train" : "t10k";
  auto images_path = dataset_file(dir, prefix + "-images-idx3-ubyte.gz");
  auto labels_path = dataset_file(dir, prefix + "-labels-idx1-ubyte.gz");
  Tensor pixels = read_idx(images_path);   // i32 [N, 28, 28], values 0..255
  Tensor classes = read_idx(labels_path);  // i32 [N]
  STRATA_CHECK(pixels.dim() == 3 && pixels.size(1) == 28 && pixels.size(2) == 28, kOp, ": ",
               images_path, " holds shape ", shape_str(pixels.shape()), "; expected [N, 28, 28]");
  STRATA_CHECK(classes.dim() == 1 && classes.size(0) == pixels.size(0), kOp, ": ", labels_path,
               " holds shape ", shape_str(classes.shape()), "; expected [", pixels.size(0),
               "] to match the ", prefix, " images");

  int64_t n = pixels.size(0);
  FashionMnist out{empty({n, 1, 28, 28}), empty({n}, {DType::i64})};
  const int32_t* pixel = pixels.data<int32_t>();
  std::transform(pixel, pixel + pixels.numel(), out.images.data<float>(),
                 [](int32_t v) { return static_cast<float>(v) / 255.0f; });
  const int32_t* label = classes.data<int32_t>();
  int64_t* dst = out.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    STRATA_CHECK(label[i] >= 0 && label[i] < 10, kOp, ": ", labels_path, " holds the label ",
                 label[i], " at index ", i, "; expected a class in [0, 10)");
    dst[i] = label[i];
  }
  return out;
}

}  // namespace strata::io
