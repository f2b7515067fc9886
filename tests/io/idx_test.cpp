// read_idx: every IDX element type round-trips from synthetic files, plain and gzip'd, and broken
// files give errors that name the file and what was expected.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "io/idx.hpp"
#include "io_files.hpp"
#include "test_support.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;
using strata::test::idx_bytes;

namespace {

std::string big_endian(uint64_t bits, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>(bits >> (8 * i)));
  return out;
}

}  // namespace

TEST_CASE("read_idx reads u8 as i32, plain and gzip'd, with the header's shape") {
  test::TempDir dir;
  std::string payload;
  std::vector<int32_t> expected;
  for (int i = 0; i < 24; ++i) {
    int value = (i * 37) % 256;  // includes values >= 128, which must not become negative
    payload.push_back(static_cast<char>(value));
    expected.push_back(value);
  }
  std::string file = idx_bytes(0x08, {2, 3, 4}, payload);
  test::write_bytes(dir / "plain-idx3-ubyte", file);
  test::write_gzip(dir / "packed-idx3-ubyte.gz", file);
  for (const char* name : {"plain-idx3-ubyte", "packed-idx3-ubyte.gz"}) {
    CAPTURE(name);
    Tensor t = io::read_idx(dir / name);
    CHECK(t.dtype() == DType::i32);
    CHECK(t.shape() == Shape{2, 3, 4});
    CHECK(t.to_vector<int32_t>() == expected);
  }
}

TEST_CASE("read_idx decodes every element type from big-endian") {
  test::TempDir dir;
  SUBCASE("i8") {
    test::write_bytes(dir / "a", idx_bytes(0x09, {3}, std::string{'\x7f', '\x80', '\xff'}));
    Tensor t = io::read_idx(dir / "a");
    CHECK(t.dtype() == DType::i32);
    CHECK(t.to_vector<int32_t>() == std::vector<int32_t>{127, -128, -1});
  }
  SUBCASE("i16") {
    test::write_gzip(dir / "a",
                     idx_bytes(0x0B, {2}, big_endian(0x8000, 2) + big_endian(0x1234, 2)));
    CHECK(io::read_idx(dir / "a").to_vector<int32_t>() == std::vector<int32_t>{-32768, 0x1234});
  }
  SUBCASE("i32") {
    test::write_bytes(dir / "a",
                      idx_bytes(0x0C, {1, 2}, big_endian(0xFFFFFFFE, 4) + big_endian(70000, 4)));
    Tensor t = io::read_idx(dir / "a");
    CHECK(t.shape() == Shape{1, 2});
    CHECK(t.to_vector<int32_t>() == std::vector<int32_t>{-2, 70000});
  }
  SUBCASE("f32") {
    test::write_bytes(dir / "a", idx_bytes(0x0D, {2},
                                           big_endian(0x3FC00000, 4) +       // 1.5
                                               big_endian(0xC0100000, 4)));  // -2.25
    Tensor t = io::read_idx(dir / "a");
    CHECK(t.dtype() == DType::f32);
    CHECK(t.to_vector<float>() == std::vector<float>{1.5f, -2.25f});
  }
  SUBCASE("f64") {
    test::write_gzip(dir / "a", idx_bytes(0x0E, {1}, big_endian(0x400921FB54442D18, 8)));
    Tensor t = io::read_idx(dir / "a");
    CHECK(t.dtype() == DType::f64);
    CHECK(t.item<double>() == 3.141592653589793);
  }
}

TEST_CASE("read_idx names the file and the problem when it cannot read it") {
  test::TempDir dir;
  auto error = [&](const std::string& name) { return error_of([&] { io::read_idx(dir / name); }); };
  std::string missing = error("nothing-here.gz");
  CHECK(contains(missing, "read_idx"));
  CHECK(contains(missing, (dir / "nothing-here.gz").string()));
  CHECK(contains(missing, "does not exist"));

  test::write_bytes(dir / "short", idx_bytes(0x08, {10}, "12345"));
  std::string short_plain = error("short");
  CHECK(contains(short_plain, "is truncated"));
  CHECK(contains(short_plain, "10 bytes of values (shape [10] of u8)"));
  CHECK(contains(short_plain, "the file holds 5"));

  test::write_gzip(dir / "short.gz", idx_bytes(0x08, {10}, "12345"));
  std::string short_gzip = error("short.gz");
  CHECK(contains(short_gzip, "is truncated"));
  CHECK(contains(short_gzip, "10 bytes of values"));
  CHECK(contains(short_gzip, "found 5"));

  test::write_gzip(dir / "long.gz", idx_bytes(0x08, {2}, "123"));
  CHECK(contains(error("long.gz"), "is corrupt: it holds more than the 2 bytes of values"));
  test::write_bytes(dir / "long", idx_bytes(0x08, {2}, "123"));
  CHECK(contains(error("long"), "is corrupt: its header declares 2 bytes of values"));

  test::write_bytes(dir / "magic", "GIF89a, not IDX");
  CHECK(contains(error("magic"), "is not an IDX file: it starts with the bytes 71, 73"));

  test::write_bytes(dir / "type", idx_bytes(0x07, {1}, "x"));
  CHECK(contains(error("type"), "unknown element type code 7; expected one of 8 (u8)"));

  test::write_bytes(dir / "rank", std::string{0, 0, 8, 3, 0, 0, 0, 1, 0});
  CHECK(contains(error("rank"), "declares rank 3, which needs 12 bytes of sizes; found 5"));

  test::write_bytes(dir / "tiny", std::string{0, 0});
  CHECK(contains(error("tiny"), "it holds 2 bytes, an IDX header needs at least 4"));

  // A header that declares more than the compressed file could expand to fails before allocating.
  test::write_gzip(dir / "huge.gz", idx_bytes(0x0E, {60000, 60000, 100}, ""));
  CHECK(contains(error("huge.gz"), "more than a gzip file of"));

  // Compressed data cut short, or gzip's magic followed by garbage: zlib reports it.
  std::string payload(4000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7919 % 251);
  test::write_gzip(dir / "whole.gz", idx_bytes(0x08, {4000}, payload));
  std::ifstream whole(dir / "whole.gz", std::ios::binary);
  std::string packed(std::istreambuf_iterator<char>(whole), {});
  test::write_bytes(dir / "cut.gz", packed.substr(0, packed.size() / 2));
  std::string cut = error("cut.gz");
  CHECK(contains(cut, (dir / "cut.gz").string()));
  CHECK(contains(cut, "is corrupt: zlib reports 'unexpected end of file'"));
  test::write_bytes(dir / "garbage.gz", "\x1f\x8b\x08\x00 then no deflate stream");
  CHECK(contains(error("garbage.gz"), "is corrupt: zlib reports '"));
}
