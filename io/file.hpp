// Whole-file reads and writes for the dataset readers, with errors that name the file.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace strata::io {

// Throws unless path names an existing regular file (or a link to one); `op` names the caller.
void require_regular_file(const std::filesystem::path& path, std::string_view op);

// The bytes of the file at path. `op` names the caller in the error raised when the file is
// missing, is not a regular file, or cannot be read.
std::string read_file(const std::filesystem::path& path, std::string_view op);

// Replaces the file at path with bytes, atomically (io/atomic_file.hpp).
void write_file(const std::filesystem::path& path, std::string_view bytes, std::string_view op);

}  // namespace strata::io
