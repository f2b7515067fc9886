// Error messages, one test per class of misuse: each message must name the op, the shapes (or
// dtypes, devices) involved, and what the caller should do instead.
#include <doctest/doctest.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "core/dispatch.hpp"
#include "core/factories.hpp"

using namespace strata;

namespace {

// Runs fn, which must throw strata::Error, and checks that the message contains every part.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string_view> parts) {
  std::string message;
  try {
    fn();
  } catch (const Error& error) {
    message = error.what();
  }
  REQUIRE_MESSAGE(!message.empty(), "expected a strata::Error");
  INFO("message: ", message);
  for (std::string_view part : parts) {
    CHECK_MESSAGE(message.find(part) != std::string::npos, "the message lacks '", part, "'");
  }
}

}  // namespace

TEST_CASE("a bad dim names the op, the rank and the valid range") {
  Tensor x = zeros({2, 3});
  expect_error([&] { x.transpose(0, 2); }, {"transpose", "dim 2", "2 dims", "-2 <= dim < 2"});
  expect_error([&] { x.size(-3); }, {"Tensor::size", "dim -3", "2 dims", "-2 <= dim < 2"});
  expect_error([&] { x.unsqueeze(4); }, {"unsqueeze", "dim 4", "3 dims", "-3 <= dim < 3"});
  expect_error([&] { x.flatten(1, 0); }, {"flatten", "start_dim 1", "end_dim 0"});
}

TEST_CASE("an out-of-range slice, select or narrow names the dim, its size and the bounds") {
  Tensor x = zeros({2, 3});
  expect_error([&] { x.slice(1, 0, 5); },
               {"slice", "[0, 5)", "dim 1 of size 3", "shape [2, 3]", "end <= 3"});
  expect_error([&] { x.slice(1, -4, 2); }, {"slice", "[-4, 2)", "-3 <= start <= 3"});
  expect_error([&] { x.slice(0, 0, 2, 0); }, {"slice", "step must be positive", "got 0"});
  expect_error([&] { x.select(0, 2); },
               {"select", "index 2", "dim 0 of size 2", "shape [2, 3]", "-2 <= index < 2"});
  expect_error([&] { x.narrow(1, 2, 2); },
               {"narrow", "start 2 + length 2", "size 3", "shape [2, 3]", "start + length <= 3"});
  expect_error([&] { x.narrow(1, 0, -1); }, {"narrow", "length", "non-negative", "got -1"});
}

TEST_CASE("a view that needs a copy says to reshape or make the tensor contiguous") {
  Tensor t = zeros({2, 3}).t();  // [3, 2], strides [1, 3]
  expect_error([&] { t.view({6}); },
               {"view", "shape [3, 2]", "strides [1, 3]", "[6]", "reshape()", "contiguous()"});
  CHECK(t.reshape({6}).shape() == Shape{6});  // the suggested fixes work
  CHECK(t.contiguous().view({6}).shape() == Shape{6});

  Tensor x = zeros({2, 3});
  expect_error([&] { x.view({4, 4}); }, {"view", "[4, 4]", "16 elements", "[2, 3]", "has 6"});
  expect_error([&] { x.reshape({-1, -1}); }, {"reshape", "only one dimension can be -1"});
  expect_error([&] { x.view({4, -1}); }, {"view", "[2, 3]", "6 elements", "[4, -1]"});
}

TEST_CASE("expand names both shapes and the dim that cannot grow") {
  Tensor x = zeros({2, 3});
  expect_error(
      [&] {
        x.expand({4, 3});
      },
      {"expand", "[2, 3]", "[4, 3]", "dim 0", "size 2 is neither 1 nor 4"});
  expect_error([&] { x.expand({3}); }, {"expand", "[2, 3]", "fewer dims", "[3]"});
  expect_error([&] { x.expand({-1, 2, 3}); }, {"expand", "-1", "new leading dim"});
}

TEST_CASE("permute asks for each dim exactly once") {
  Tensor x = zeros({2, 3});
  expect_error(
      [&] {
        x.permute({0, 0});
      },
      {"permute", "dim 0 appears twice", "[0, 0]", "each of the 2 dims", "shape [2, 3]"});
  expect_error([&] { x.permute({0}); }, {"permute", "got 1 dims", "2 dims", "shape [2, 3]"});
}

TEST_CASE("a dtype mismatch names both dtypes and the conversion") {
  Tensor x = zeros({2, 3});
  expect_error([&] { x.data<double>(); }, {"Tensor::data<f64>", "shape [2, 3]", "dtype f32",
                                           "data<T> with T of dtype f32", ".to(dtype)"});
  Tensor y = zeros({2, 3}, {DType::bf16});
  expect_error(
      [&] {
        common_dtype("add", {&x, &y});
      },
      {"add", "dtype mismatch", "f32", "bf16", ".to(dtype)"});
}

TEST_CASE("a CUDA device that this build or machine lacks is named, with the way out") {
  // One past the last visible device: missing on every machine, with or without a GPU.
  Device missing = Device::cuda(cuda_device_count());
  std::string name = missing.str();
#if defined(STRATA_HAVE_CUDA)
  std::initializer_list<std::string_view> parts = {
      name, "does not exist", "CUDA device(s) are visible", "cuda_device_count()", "Device::cpu()"};
#else
  std::initializer_list<std::string_view> parts = {name, "no CUDA backend", "STRATA_CUDA",
                                                   "Device::cpu()"};
#endif
  expect_error([&] { zeros({2, 3}, {DType::f32, missing}); }, parts);
  expect_error([&] { zeros({2, 3}).to(missing); }, parts);
}

TEST_CASE("item() of a tensor with more than one element names the shape and the alternatives") {
  expect_error(
      [] {
        zeros({2, 3}).item<float>();
      },
      {"Tensor::item", "one element", "shape [2, 3]", "to_vector<T>()"});
  CHECK(full({1, 1}, 7.0).item<float>() == 7.0f);
}

TEST_CASE("factories name the shape they could not make") {
  expect_error([] { empty({2, -1}); }, {"empty", "negative size", "[2, -1]"});
  expect_error(
      [] {
        from_vector(std::vector<float>{1, 2, 3, 4, 5}, {2, 3});
      },
      {"from_vector", "5 values", "[2, 3]", "expected 6"});
  expect_error([] { arange(0, 5, 0); }, {"arange", "step must be non-zero"});
}

TEST_CASE("an undefined tensor says how it came to be undefined") {
  Tensor undefined;
  expect_error([&] { undefined.shape(); }, {"undefined Tensor", "default-constructed"});
}
