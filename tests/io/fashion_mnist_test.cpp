// load_fashion_mnist: Debian's files load with the documented shapes, scaling and labels;
// synthetic files check the pixel scaling exactly; a missing package is named in the error.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "io/fashion_mnist.hpp"
#include "io_files.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;

namespace {

// Each class appears size / 10 times: Fashion-MNIST is balanced.
void check_split(const io::FashionMnist& data, int64_t size) {
  CHECK(data.images.dtype() == DType::f32);
  CHECK(data.images.shape() == Shape{size, 1, 28, 28});
  CHECK(data.labels.dtype() == DType::i64);
  CHECK(data.labels.shape() == Shape{size});
  const float* pixels = data.images.data<float>();
  auto [low, high] = std::minmax_element(pixels, pixels + data.images.numel());
  CHECK(*low == 0.0f);
  CHECK(*high == 1.0f);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t label : data.labels.to_vector<int64_t>()) {
    REQUIRE(label >= 0);
    REQUIRE(label < 10);
    ++per_class[label];
  }
  CHECK(per_class == std::vector<int64_t>(10, size / 10));
}

}  // namespace

TEST_CASE("Debian's Fashion-MNIST loads: 60,000 training and 10,000 test images") {
  check_split(io::load_fashion_mnist(io::Split::train), 60000);
  check_split(io::load_fashion_mnist(io::Split::test), 10000);
}

TEST_CASE("load_fashion_mnist scales pixels by 1/255 and keeps labels") {
  test::TempDir dir;
  std::string pixels;
  for (int i = 0; i < 2 * 28 * 28; ++i) pixels.push_back(static_cast<char>(i % 256));
  test::write_gzip(dir / "t10k-images-idx3-ubyte.gz", test::idx_bytes(0x08, {2, 28, 28}, pixels));
  test::write_gzip(dir / "t10k-labels-idx1-ubyte.gz", test::idx_bytes(0x08, {2}, "\x09\x03"));
  io::FashionMnist data = io::load_fashion_mnist(io::Split::test, dir.path());
  CHECK(data.images.shape() == Shape{2, 1, 28, 28});
  std::vector<float> values = data.images.to_vector<float>();
  for (int i = 0; i < 2 * 28 * 28; ++i) REQUIRE(values[i] == static_cast<float>(i % 256) / 255.0f);
  CHECK(data.labels.to_vector<int64_t>() == std::vector<int64_t>{9, 3});

  test::write_gzip(dir / "t10k-labels-idx1-ubyte.gz", test::idx_bytes(0x08, {3}, "\x01\x02\x03"));
  std::string count = error_of([&] { io::load_fashion_mnist(io::Split::test, dir.path()); });
  CHECK(contains(count, "t10k-labels-idx1-ubyte.gz\" holds shape [3]; expected [2]"));

  test::write_gzip(dir / "t10k-labels-idx1-ubyte.gz", test::idx_bytes(0x08, {2}, "\x01\x0a"));
  std::string label = error_of([&] { io::load_fashion_mnist(io::Split::test, dir.path()); });
  CHECK(contains(label, "holds the label 10 at index 1; expected a class in [0, 10)"));
}

TEST_CASE("A missing Fashion-MNIST says which package to install") {
  test::TempDir dir;
  std::string message =
      error_of([&] { io::load_fashion_mnist(io::Split::train, dir / "not-installed"); });
  CHECK(contains(message, "load_fashion_mnist"));
  CHECK(contains(message, (dir / "not-installed" / "train-images-idx3-ubyte.gz").string()));
  CHECK(contains(message, "apt-get install dataset-fashion-mnist"));
  CHECK(contains(message, "scripts/setup.sh"));
}
