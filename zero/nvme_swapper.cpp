// NvmeSwapper: the private folder, one file per buffer (opened twice: through the page cache and,
// where the file system allows, with O_DIRECT), and the split of each transfer between the two.
#include "zero/nvme_swapper.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/error.hpp"

namespace strata::zero {
namespace {

constexpr int64_t kAlignment = 4096;  // what O_DIRECT asks of memory, offsets and sizes

std::string system_error() { return std::strerror(errno); }

// Whether the file system under folder takes O_DIRECT reads and writes: some refuse the open
// (tmpfs), others the first transfer.
bool direct_io_works(const std::filesystem::path& folder) {
  const std::filesystem::path probe = folder / "direct_io_probe";
  const int fd = open(probe.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
  if (fd < 0) return false;
  void* raw = std::aligned_alloc(kAlignment, kAlignment);
  std::memset(raw, 0, kAlignment);
  const bool works =
      pwrite(fd, raw, kAlignment, 0) == kAlignment && pread(fd, raw, kAlignment, 0) == kAlignment;
  std::free(raw);
  close(fd);
  std::filesystem::remove(probe);
  return works;
}

}  // namespace

NvmeSwapper::NvmeSwapper(const std::filesystem::path& nvme_path, const io::AioConfig& aio,
                         const std::string& tag)
    : io_(aio) {
  std::error_code ec;
  const auto status = std::filesystem::status(nvme_path, ec);
  if (!std::filesystem::exists(status))
    fail("NVMe offload: nvme_path '", nvme_path.string(), "' does not exist");
  if (!std::filesystem::is_directory(status))
    fail("NVMe offload: nvme_path '", nvme_path.string(), "' is not a folder");
  // A folder no other swapper uses, in this process (a counter) or another (the pid).
  static std::atomic<int64_t> counter{0};
  bool created = false;
  while (!created && !ec) {
    folder_ = nvme_path / ("strata_swap_" + tag + "_" + std::to_string(getpid()) + "_" +
                           std::to_string(counter++));
    created = std::filesystem::create_directory(folder_, ec);
  }
  if (ec)
    fail("NVMe offload: cannot write in nvme_path '", nvme_path.string(), "' (creating ",
         folder_.string(), "): ", ec.message());
  direct_io_ = direct_io_works(folder_);
}

NvmeSwapper::~NvmeSwapper() {
  for (auto& [ticket, tensor] : held_) {
    try {
      io_.wait(ticket);
    } catch (const Error&) {
      // The transfer's failure was not waited for; the files go anyway.
    }
  }
  for (auto& [name, f] : files_) {
    close(f.buffered_fd);
    if (f.direct_fd >= 0) close(f.direct_fd);
  }
  std::error_code ec;
  std::filesystem::remove_all(folder_, ec);
}

void NvmeSwapper::create(const std::string& name, int64_t numel) {
  STRATA_CHECK(!contains(name), "NvmeSwapper::create: buffer '", name, "' exists already");
  STRATA_CHECK(numel >= 0, "NvmeSwapper::create: buffer '", name, "' of ", numel, " elements");
  File f;
  f.path = folder_ / (std::to_string(files_.size()) + ".f32");
  f.numel = numel;
  f.buffered_fd = open(f.path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (f.buffered_fd < 0)
    fail("NVMe offload: cannot create ", f.path.string(), " for '", name, "': ", system_error());
  // Whole 4 KiB blocks, so that the last transfer of a buffer can be direct too.
  const int64_t bytes = (numel * 4 + kAlignment - 1) / kAlignment * kAlignment;
  int error = bytes ? posix_fallocate(f.buffered_fd, 0, bytes) : 0;
  if (error == EOPNOTSUPP || error == EINVAL) error = ftruncate(f.buffered_fd, bytes) ? errno : 0;
  if (error) {
    close(f.buffered_fd);
    std::filesystem::remove(f.path);
    fail("NVMe offload: cannot reserve ", bytes, " bytes for '", name, "' in ", f.path.string(),
         ": ", std::strerror(error),
         error == ENOSPC || error == EDQUOT || error == EFBIG
             ? " (the file system holding nvme_path is full, or the file size limit is reached)"
             : "");
  }
  if (direct_io_) f.direct_fd = open(f.path.c_str(), O_RDWR | O_DIRECT);
  files_.emplace(name, std::move(f));
}

int64_t NvmeSwapper::numel(const std::string& name) const { return file(name, "numel").numel; }

const NvmeSwapper::File& NvmeSwapper::file(const std::string& name, const char* op) const {
  auto it = files_.find(name);
  STRATA_CHECK(it != files_.end(), "NvmeSwapper::", op, ": no buffer '", name, "'");
  return it->second;
}

int64_t NvmeSwapper::write(const std::string& name, const Tensor& data, int64_t offset) {
  return transfer(name, data, offset, true);
}

int64_t NvmeSwapper::read(const std::string& name, const Tensor& out, int64_t offset) {
  return transfer(name, out, offset, false);
}

int64_t NvmeSwapper::transfer(const std::string& name, const Tensor& data, int64_t offset,
                              bool write) {
  const char* op = write ? "write" : "read";
  const File& f = file(name, op);
  STRATA_CHECK(data.dtype() == DType::f32 && data.device().is_cpu() && data.is_contiguous(),
               "NvmeSwapper::", op, ": '", name, "' needs a contiguous f32 CPU tensor, got ",
               dtype_name(data.dtype()), " on ", data.device().str());
  STRATA_CHECK(offset >= 0 && offset + data.numel() <= f.numel, "NvmeSwapper::", op, ": elements [",
               offset, ", ", offset + data.numel(), ") are outside '", name, "' of ", f.numel);
  char* memory = static_cast<char*>(data.data_ptr());
  const int64_t bytes = data.numel() * 4, file_offset = offset * 4;
  const bool aligned = f.direct_fd >= 0 && reinterpret_cast<uintptr_t>(memory) % kAlignment == 0 &&
                       file_offset % kAlignment == 0;
  const int64_t direct_bytes = aligned ? bytes / kAlignment * kAlignment : 0;
  const std::string what = "NVMe offload buffer '" + name + "' (" + f.path.string() + ")";
  std::vector<FileTransfer> transfers;
  if (direct_bytes > 0)
    transfers.push_back({f.direct_fd, memory, direct_bytes, file_offset, write, what});
  if (bytes > direct_bytes)
    transfers.push_back({f.buffered_fd, memory + direct_bytes, bytes - direct_bytes,
                         file_offset + direct_bytes, write, what});
  const int64_t ticket = io_.submit(std::move(transfers));
  held_.emplace(ticket, data);
  return ticket;
}

void NvmeSwapper::wait(int64_t ticket) {
  auto it = held_.find(ticket);
  STRATA_CHECK(it != held_.end(), "NvmeSwapper::wait: unknown or already waited ticket ", ticket);
  const Tensor held = std::move(it->second);  // freed only after the transfer has stopped
  held_.erase(it);
  io_.wait(ticket);
}

int64_t NvmeSwapper::bytes() const {
  int64_t total = 0;
  for (const auto& [name, f] : files_) total += f.numel * 4;
  return total;
}

}  // namespace strata::zero
