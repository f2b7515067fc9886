// A file that appears complete or not at all: bytes go to a temporary name in the same directory,
// and commit() flushes them to disk (fsync), renames the file into place and syncs the directory.
// A writer that fails or is destroyed before commit() removes the temporary file, so a crash or an
// error never leaves a half-written file under the final name.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

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

 private:
  std::filesystem::path path_, temporary_;
  std::string op_;
  int fd_ = -1;
};

}  // namespace strata::io
