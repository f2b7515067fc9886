// AtomicFile: write to a temporary name, fsync, rename, fsync the directory.
#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace strata::io {

AtomicFile::AtomicFile(std::filesystem::path path, std::string_view op)
    : path_(std::move(path)), op_(op) {
  temporary_ = path_;
  temporary_ += ".tmp." + std::to_string(::getpid());
  fd_ = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  STRATA_CHECK(fd_ >= 0, op_, ": cannot create ", temporary_, ": ", std::strerror(errno),
               " (does the directory exist and is it writable?)");
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;
  ::close(fd_);
  std::error_code ignored;
  std::filesystem::remove(temporary_, ignored);
}

void AtomicFile::write(const void* data, size_t nbytes) {
  STRATA_CHECK(fd_ >= 0, op_, ": write to ", path_, " after commit");
  crc_.update(data, nbytes);
  const char* bytes = static_cast<const char*>(data);
  while (nbytes > 0) {
    ssize_t written = ::write(fd_, bytes, nbytes);
    if (written < 0 && errno == EINTR) continue;
    STRATA_CHECK(written > 0, op_, ": writing ", temporary_, " failed: ", std::strerror(errno),
                 " (is the disk full?); ", path_, " was left untouched");
    bytes += written;
    nbytes -= static_cast<size_t>(written);
  }
}

void AtomicFile::commit() {
  STRATA_CHECK(fd_ >= 0, op_, ": ", path_, " committed twice");
  STRATA_CHECK(::fsync(fd_) == 0, op_, ": fsync of ", temporary_,
               " failed: ", std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
  std::error_code error;
  std::filesystem::rename(temporary_, path_, error);
  if (error) {
    std::filesystem::remove(temporary_, error);
    fail(op_, ": cannot rename ", temporary_, " to ", path_, ": ", error.message());
  }
  // The rename is durable only once the directory entry is on disk.
  sync_directory(path_.has_parent_path() ? path_.parent_path() : ".");
}

void sync_directory(const std::filesystem::path& directory) {
  int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd >= 0) {
    ::fsync(directory_fd);
    ::close(directory_fd);
  }
}

}  // namespace strata::io
