// Whole-file reads and writes (file.hpp).
#include "io/file.hpp"

#include <fstream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace strata::io {

void require_regular_file(const std::filesystem::path& path, std::string_view op) {
  std::error_code error;
  auto status = std::filesystem::status(path, error);
  STRATA_CHECK(std::filesystem::exists(status), op, ": ", path, " does not exist");
  STRATA_CHECK(std::filesystem::is_regular_file(status), op, ": ", path, " is not a regular file");
}

std::string read_file(const std::filesystem::path& path, std::string_view op) {
  require_regular_file(path, op);
  std::ifstream in(path, std::ios::binary);
  STRATA_CHECK(in, op, ": cannot open ", path, " for reading");
  std::string bytes(std::filesystem::file_size(path), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  STRATA_CHECK(in.gcount() == static_cast<std::streamsize>(bytes.size()), op, ": read ",
               in.gcount(), " of the ", bytes.size(), " bytes of ", path);
  return bytes;
}

void write_file(const std::filesystem::path& path, std::string_view bytes, std::string_view op) {
  AtomicFile file(path, op);
  file.write(bytes);
  file.commit();
}

}  // namespace strata::io
