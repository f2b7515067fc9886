// Tensor geometry: views share storage and compute the right strides; copies convert.
#include <doctest/doctest.h>

#include "core/tensor.hpp"

using namespace strata;

namespace {
Tensor arange_f32(int64_t n) {
  Tensor t(Storage(n * 4, Device::cpu()), {n}, {1}, 0, DType::f32);
  for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}
}  // namespace

TEST_CASE("views share storage and index correctly") {
  Tensor a = arange_f32(24).view({2, 3, 4});
  CHECK(a.strides() == Shape{12, 4, 1});
  Tensor p = a.permute({2, 0, 1});
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK_FALSE(p.is_contiguous());
  Tensor c = p.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.to_vector<float>()[1] == 4.0f);  // p[0,0,1] = a[0,1,0]
  Tensor s = a.slice(2, 1, 4, 2);
  CHECK(s.to_vector<float>() == std::vector<float>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23});
  CHECK(a.select(1, 2).to_vector<float>() == std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23});
  CHECK(a.transpose(0, 1).reshape({-1}).to_vector<float>()[4] == 12.0f);
  CHECK(a.unsqueeze(0).squeeze(0).shape() == a.shape());
  CHECK(a.flatten(1).shape() == Shape{2, 12});
  CHECK(arange_f32(3).view({3, 1}).expand({3, 2}).to_vector<float>() ==
        std::vector<float>{0, 0, 1, 1, 2, 2});
}

TEST_CASE("copy converts dtypes") {
  Tensor a = arange_f32(5);
  CHECK(a.to(DType::bf16).to(DType::i64).to_vector<int64_t>() ==
        std::vector<int64_t>{0, 1, 2, 3, 4});
}

TEST_CASE("printing shows dtype, device, shape and abbreviated values") {
  std::string text = arange_f32(24).view({2, 12}).str();
  CHECK(text.find("Tensor(f32, cpu, [2, 12])") == 0);
  CHECK(text.find("...") != std::string::npos);
  CHECK(text.find("23") != std::string::npos);
  CHECK(arange_f32(3).to(DType::i32).str().find("[0, 1, 2]") != std::string::npos);
}

TEST_CASE("a view that needs a copy says so, reshape copies") {
  Tensor a = arange_f32(6).view({2, 3}).t();
  CHECK_THROWS_WITH_AS(a.view({6}), doctest::Contains("use reshape()"), Error);
  CHECK(a.reshape({6}).to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  CHECK(a.reshape({6}).storage().is_same(a.storage()) == false);
  Tensor b = arange_f32(6);
  CHECK(b.view({2, 3}).reshape({3, 2}).storage().is_same(b.storage()));
}
