// llm.c token files (token_file.hpp). Byte order is spelled out, so big-endian hosts read the
// little-endian files that llm.c writes.
#include "io/token_file.hpp"

#include <climits>
#include <string>
#include <vector>

#include "core/factories.hpp"
#include "io/file.hpp"

namespace strata::io {
namespace {

uint32_t load_le(const char* p, int bytes) {
  uint32_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = value << 8 | static_cast<unsigned char>(p[i]);
  return value;
}

void store_le(char* p, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>(value >> (8 * i));
}

}  // namespace

Tensor read_token_file(const std::filesystem::path& path) {
  constexpr const char* op = "read_token_file";
  std::string bytes = read_file(path, op);
  auto size = static_cast<int64_t>(bytes.size());
  STRATA_CHECK(size >= kTokenFileHeaderBytes, op, ": ", path, " holds ", size,
               " bytes, too few for the ", kTokenFileHeaderBytes, "-byte header");
  auto magic = static_cast<int32_t>(load_le(&bytes[0], 4));
  auto version = static_cast<int32_t>(load_le(&bytes[4], 4));
  auto count = static_cast<int32_t>(load_le(&bytes[8], 4));
  STRATA_CHECK(magic == kTokenFileMagic, op, ": ", path, " has the magic number ", magic,
               "; expected ", kTokenFileMagic, " (an llm.c token file)");
  STRATA_CHECK(version == kTokenFileVersion, op, ": ", path, " has version ", version,
               "; only version ", kTokenFileVersion, " (uint16 tokens) is supported");
  int64_t expected = kTokenFileHeaderBytes + 2 * int64_t{count};
  STRATA_CHECK(count >= 0 && size == expected, op, ": ", path, " declares ", count, " tokens (",
               expected, " bytes with the header) but holds ", size, " bytes");

  Tensor tokens = empty({count}, {DType::i32});
  int32_t* out = tokens.data<int32_t>();
  const char* p = bytes.data() + kTokenFileHeaderBytes;
  for (int64_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>(load_le(p + 2 * i, 2));
  return tokens;
}

void write_token_file(const std::filesystem::path& path, const Tensor& tokens) {
  constexpr const char* op = "write_token_file";
  STRATA_CHECK(tokens.dtype() == DType::i32 || tokens.dtype() == DType::i64, op,
               ": tokens have dtype ", dtype_name(tokens.dtype()), "; expected i32 or i64");
  STRATA_CHECK(tokens.numel() <= INT32_MAX, op, ": ", tokens.numel(),
               " tokens do not fit the header's int32 count; split them into shards");
  std::vector<int64_t> values = tokens.to_vector<int64_t>();
  std::string bytes(kTokenFileHeaderBytes + 2 * values.size(), '\0');
  store_le(&bytes[0], kTokenFileMagic, 4);
  store_le(&bytes[4], kTokenFileVersion, 4);
  store_le(&bytes[8], static_cast<uint32_t>(values.size()), 4);
  char* p = bytes.data() + kTokenFileHeaderBytes;
  for (size_t i = 0; i < values.size(); ++i) {
    STRATA_CHECK(values[i] >= 0 && values[i] < 65536, op, ": token ", values[i], " at index ", i,
                 " does not fit uint16; expected values in [0, 65536)");
    store_le(p + 2 * i, static_cast<uint32_t>(values[i]), 2);
  }
  write_file(path, bytes, op);
}

}  // namespace strata::io
