// safetensors: round trips of every dtype, the byte layout other readers expect, atomic writes,
// and clear errors for corrupt files.
#include <cstring>

#include "io/file.hpp"
#include "io/safetensors.hpp"
#include "io_files.hpp"
#include "strata.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

TEST_CASE("safetensors round-trips every dtype, views, names and metadata") {
  test::TempDir dir;
  Tensor matrix = randn({3, 4});
  io::NamedTensors tensors = {
      {"blocks.0.weight", matrix.t()},  // a non-contiguous view is written contiguous
      {"f64", randn({2}, DType::f64)},
      {"f16", randn({5}).to(DType::f16)},
      {"bf16", randn({1, 3}).to(DType::bf16)},
      {"i64", arange(0, 6, 1, DType::i64).reshape({2, 3})},
      {"i32", from_vector<int32_t>({-1, 7})},
      {"flag", gt(randn({4}), 0.0)},
      {"scalar", full({}, 2.5)},
      {"empty", zeros({0, 3})},
  };
  io::save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}, {"step", "12"}});
  io::Safetensors loaded = io::load_safetensors(dir / "model.safetensors");
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    CAPTURE(tensors[i].first);
    CHECK(loaded.tensors[i].first == tensors[i].first);
    const Tensor& got = loaded.tensors[i].second;
    CHECK(got.dtype() == tensors[i].second.dtype());
    CHECK(got.shape() == tensors[i].second.shape());
    CHECK(got.to_vector<double>() == tensors[i].second.to_vector<double>());
  }
  CHECK(loaded.metadata.at("format") == "pt");
  CHECK(loaded.metadata.at("step") == "12");
  // No temporary file is left next to the result.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path()))
    ++files;
  CHECK(files == 1);
}

TEST_CASE("safetensors byte layout: header length, JSON, 8-byte aligned data") {
  test::TempDir dir;
  io::save_safetensors(dir / "a.safetensors", {{"w", from_vector<float>({1.0f, 2.0f})}});
  std::string bytes = io::read_file(dir / "a.safetensors", "test");
  uint64_t header_size;
  std::memcpy(&header_size, bytes.data(), 8);
  CHECK(header_size % 8 == 0);
  std::string header = bytes.substr(8, header_size);
  CHECK(header.find("\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}") !=
        std::string::npos);
  REQUIRE(bytes.size() == 8 + header_size + 8);
  float values[2];
  std::memcpy(values, bytes.data() + 8 + header_size, 8);
  CHECK(values[0] == 1.0f);
  CHECK(values[1] == 2.0f);
}

TEST_CASE("SafetensorsWriter writes in parts what save_safetensors writes whole") {
  test::TempDir dir;
  Tensor weight = randn({4, 3});
  Tensor bias = randn({5}).to(DType::bf16);
  io::save_safetensors(dir / "whole.safetensors", {{"w", weight}, {"b", bias}}, {{"k", "v"}});
  io::SafetensorsWriter parts(dir / "parts.safetensors",
                              {{"w", DType::f32, {4, 3}}, {"b", DType::bf16, {5}}}, {{"k", "v"}});
  parts.write(weight.narrow(0, 0, 1));
  parts.write(weight.narrow(0, 1, 3).t().contiguous().t());  // strides do not matter
  CHECK_THROWS_WITH_AS(parts.write(randn({2})), doctest::Contains("tensor \"b\" (bf16) has 5"),
                       Error);
  CHECK_THROWS_WITH_AS(parts.commit(), doctest::Contains("\"b\" has 0 of 5 elements written"),
                       Error);
  CHECK_FALSE(std::filesystem::exists(dir / "parts.safetensors"));
  parts.write(bias.narrow(0, 0, 2));
  parts.write(bias.narrow(0, 2, 3));
  CHECK_THROWS_WITH_AS(parts.write(bias), doctest::Contains("after every tensor was written"),
                       Error);
  CHECK(parts.commit() == io::digest_file(dir / "whole.safetensors", "test"));
  CHECK(io::read_file(dir / "parts.safetensors", "test") ==
        io::read_file(dir / "whole.safetensors", "test"));
}

TEST_CASE("SafetensorsFile reads any range of any tensor") {
  test::TempDir dir;
  Tensor weight = randn({6, 5});
  Tensor steps = arange(0, 7, 1, DType::i64);
  io::save_safetensors(dir / "f.safetensors", {{"weight", weight}, {"steps", steps}});
  io::SafetensorsFile file(dir / "f.safetensors");
  REQUIRE(file.tensors().size() == 2);
  CHECK(file.spec("weight") == io::TensorSpec{"weight", DType::f32, {6, 5}});
  CHECK(file.read("steps").to_vector<int64_t>() == steps.to_vector<int64_t>());
  std::vector<float> part(7);
  file.read("weight", 11, 7, part.data());
  const std::vector<float> all = weight.to_vector<float>();
  CHECK(part == std::vector<float>(all.begin() + 11, all.begin() + 18));
  CHECK_THROWS_WITH_AS(file.read("weight", 25, 6, part.data()),
                       doctest::Contains("elements [25, 31) of tensor \"weight\" [6, 5]"), Error);
  CHECK_THROWS_WITH_AS(file.read("bias"), doctest::Contains("holds no tensor \"bias\""), Error);
}

TEST_CASE("safetensors errors name the file and the problem") {
  test::TempDir dir;
  auto error_loading = [&](const std::string& bytes) {
    io::write_file(dir / "bad.safetensors", bytes, "test");
    return test::error_of([&] { io::load_safetensors(dir / "bad.safetensors"); });
  };
  CHECK(test::contains(test::error_of([&] { io::load_safetensors(dir / "missing"); }),
                       "does not exist"));
  CHECK(test::contains(error_loading("abc"), "too short"));
  std::string huge_header(8, '\0');
  huge_header[0] = 100;
  CHECK(test::contains(error_loading(huge_header), "truncated"));

  io::save_safetensors(dir / "good.safetensors", {{"w", zeros({4})}});
  std::string good = io::read_file(dir / "good.safetensors", "test");
  CHECK(test::contains(error_loading(good.substr(0, good.size() - 4)), "truncated"));
  std::string wrong_dtype = good;
  wrong_dtype.replace(wrong_dtype.find("F32"), 3, "U64");
  CHECK(test::contains(error_loading(wrong_dtype), "not supported"));
  std::string wrong_shape = good;
  wrong_shape.replace(wrong_shape.find("[4]"), 3, "[5]");
  CHECK(test::contains(error_loading(wrong_shape), "needs 20 bytes"));
  CHECK(test::contains(test::error_of([&] {
                         io::save_safetensors(dir / "x", {{"a", zeros({1})}, {"a", zeros({1})}});
                       }),
                       "appears twice"));
}

}  // namespace
}  // namespace strata
