// Sizes and CRC-32 checksums of files, for the checkpoint manifest. CRC-32 (zlib's, the polynomial
// of gzip and PNG) catches what damages checkpoints by accident: a truncated copy, a flipped bit,
// a torn write. It detects every burst of up to 32 bits and misses a random corruption with odds
// of 2^-32; it is not meant to resist deliberate tampering, and needs no new dependency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace strata::io {

struct FileDigest {
  uint64_t size = 0;
  uint32_t crc32 = 0;
  bool operator==(const FileDigest&) const = default;
};

// A running digest over bytes fed in order.
class Crc32 {
 public:
  void update(const void* data, size_t nbytes);
  FileDigest digest() const { return digest_; }

 private:
  FileDigest digest_;
};

// The digest of the file at path, read in blocks; `op` names the caller in errors.
FileDigest digest_file(const std::filesystem::path& path, std::string_view op);

// A CRC-32 as eight lowercase hex digits, as manifests write it.
std::string crc32_hex(uint32_t crc);

}  // namespace strata::io
