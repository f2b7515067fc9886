// CRC-32 and sizes of byte streams and files (checksum.hpp), on zlib's crc32.
#include "io/checksum.hpp"

#include <zlib.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <vector>

#include "core/error.hpp"
#include "io/file.hpp"

namespace strata::io {

void Crc32::update(const void* data, size_t nbytes) {
  const auto* bytes = static_cast<const Bytef*>(data);
  digest_.size += nbytes;
  // zlib takes a uInt length: feed at most 1 GiB at a time.
  while (nbytes > 0) {
    size_t chunk = std::min<size_t>(nbytes, size_t{1} << 30);
    digest_.crc32 = static_cast<uint32_t>(::crc32(digest_.crc32, bytes, static_cast<uInt>(chunk)));
    bytes += chunk;
    nbytes -= chunk;
  }
}

std::string crc32_hex(uint32_t crc) {
  char text[9];
  std::snprintf(text, sizeof text, "%08" PRIx32, crc);
  return text;
}

FileDigest digest_file(const std::filesystem::path& path, std::string_view op) {
  require_regular_file(path, op);
  std::ifstream in(path, std::ios::binary);
  STRATA_CHECK(in, op, ": cannot open ", path, " for reading");
  std::vector<char> block(size_t{1} << 20);
  Crc32 crc;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    crc.update(block.data(), static_cast<size_t>(in.gcount()));
  }
  STRATA_CHECK(in.eof(), op, ": reading ", path, " failed after ", crc.digest().size, " bytes");
  return crc.digest();
}

}  // namespace strata::io
