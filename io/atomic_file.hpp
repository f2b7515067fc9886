// A file that appears complete or not at all: bytes go to a temporary name in the same directory,
// and commit() flushes them to disk (fsync), renames the file into place and syncs the directory.
// A writer that fails or is destroyed before commit() removes the temporary file, so a crash or an
// error never leaves a half-written file under the final name. The size and CRC-32 of the bytes
// written are kept as they pass, for manifests that record them (io/checksum.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "io/checksum.hpp"

namespace strata::io {

class AtomicFile {
 public:
  // `op` names the caller in errors (e.g. "save_safetensors").
  AtomicFile(std::filesystem::path path, std::string_view op);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t nbytes);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void commit();
  // The size and CRC-32 of everything written so far.
  FileDigest digest() const { return crc_.digest(); }

 private:
  std::filesystem::path path_, temporary_;
  std::string op_;
  int fd_ = -1;
  Crc32 crc_;
};

// Flushes a directory's entries (created, renamed, removed files) to disk.
void sync_directory(const std::filesystem::path& directory);

}  // namespace strata::io
