// llm.c token files: write/read round trip, the exact on-disk layout, and rejected headers.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "core/factories.hpp"
#include "io/file.hpp"
#include "io/token_file.hpp"
#include "io_files.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;

namespace {

void store_le32(std::string& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<char>(value >> (8 * i));
}

}  // namespace

TEST_CASE("token files round-trip and have llm.c's layout") {
  test::TempDir dir;
  std::vector<int64_t> values = {0, 1, 255, 256, 50256, 65535, 7};
  io::write_token_file(dir / "tokens.bin", from_vector(values));

  std::string bytes = io::read_file(dir / "tokens.bin", "test");
  REQUIRE(bytes.size() == 1024 + 2 * values.size());
  auto le32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  CHECK(le32(0) == 20240520);
  CHECK(le32(4) == 1);
  CHECK(le32(8) == values.size());
  for (size_t at = 12; at < 1024; at += 4) REQUIRE(le32(at) == 0);
  CHECK(static_cast<unsigned char>(bytes[1024 + 2 * 5]) == 0xFF);      // 65535, little-endian
  CHECK(static_cast<unsigned char>(bytes[1024 + 2 * 3 + 1]) == 0x01);  // 256

  Tensor tokens = io::read_token_file(dir / "tokens.bin");
  CHECK(tokens.dtype() == DType::i32);
  CHECK(tokens.to_vector<int64_t>() == values);

  io::write_token_file(dir / "empty.bin", from_vector(std::vector<int32_t>{}));
  CHECK(io::read_token_file(dir / "empty.bin").numel() == 0);
}

TEST_CASE("write_token_file rejects tokens that do not fit uint16") {
  test::TempDir dir;
  std::string message = error_of([&] {
    io::write_token_file(dir / "t.bin", from_vector(std::vector<int64_t>{1, 65536}));
  });
  CHECK(contains(message, "token 65536 at index 1 does not fit uint16"));
  CHECK(contains(
      error_of([&] { io::write_token_file(dir / "t.bin", from_vector(std::vector<float>{1})); }),
      "expected i32 or i64"));
}

TEST_CASE("read_token_file rejects a wrong magic, version or length, naming the file") {
  test::TempDir dir;
  io::write_token_file(dir / "good.bin", from_vector(std::vector<int32_t>{1, 2, 3}));
  std::string good = io::read_file(dir / "good.bin", "test");
  auto error = [&](const std::string& bytes) {
    test::write_bytes(dir / "bad.bin", bytes);
    return error_of([&] { io::read_token_file(dir / "bad.bin"); });
  };

  std::string magic = good;
  store_le32(magic, 0, 20240521);
  std::string message = error(magic);
  CHECK(contains(message, (dir / "bad.bin").string()));
  CHECK(contains(message, "has the magic number 20240521; expected 20240520"));

  std::string version = good;
  store_le32(version, 4, 2);
  CHECK(contains(error(version), "has version 2; only version 1 (uint16 tokens) is supported"));

  std::string count = good;
  store_le32(count, 8, 4);
  CHECK(contains(error(count),
                 "declares 4 tokens (1032 bytes with the header) but holds 1030 bytes"));
  CHECK(
      contains(error(good + "x"), "declares 3 tokens (1030 bytes with the header) but holds 1031"));
  CHECK(
      contains(error(good.substr(0, 1000)), "holds 1000 bytes, too few for the 1024-byte header"));

  std::string missing = error_of([&] { io::read_token_file(dir / "none.bin"); });
  CHECK(contains(missing, "read_token_file"));
  CHECK(contains(missing, "does not exist"));
}
