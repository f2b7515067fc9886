// NvmeSwapper: named f32 buffers kept in files under nvme_path, read and written asynchronously
// (zero/nvme_io.hpp): where NVMe offload keeps the optimizer states and f32 master weights between
// steps. Each process gets a private folder under nvme_path, removed when the swapper goes.
//
// Transfers whose memory and file offset are 4 KiB aligned go through O_DIRECT (no page-cache
// copy, no page cache filled with states that are read once per step) when the file system
// accepts it; the rest, and everything on file systems without O_DIRECT (tmpfs), go through the
// page cache. Large Strata tensors are 2 MiB aligned (core/allocator.hpp), so a transfer of whole
// 1024-element multiples at such offsets is direct.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "io/config.hpp"
#include "zero/nvme_io.hpp"

namespace strata::zero {

class NvmeSwapper {
 public:
  // Makes the folder nvme_path/strata_swap_<tag>_<pid>_<n>. Throws naming nvme_path when it does
  // not exist, is not a folder or cannot be written.
  NvmeSwapper(const std::filesystem::path& nvme_path, const io::AioConfig& aio,
              const std::string& tag);
  // Waits for the transfers in flight, then removes the folder.
  ~NvmeSwapper();
  NvmeSwapper(const NvmeSwapper&) = delete;
  NvmeSwapper& operator=(const NvmeSwapper&) = delete;

  // Creates the buffer `name` of numel f32 elements, its disk space reserved now: throws naming
  // the file when the disk is full. Its contents are zeros until written.
  void create(const std::string& name, int64_t numel);
  bool contains(const std::string& name) const { return files_.count(name) != 0; }
  int64_t numel(const std::string& name) const;

  // Starts writing `data` (contiguous f32 on the CPU) into elements [offset, offset + numel) of
  // the buffer, or reading them into `out`. Returns a ticket for wait(); the swapper holds the
  // tensor until then, and the caller must not touch its memory in between.
  int64_t write(const std::string& name, const Tensor& data, int64_t offset = 0);
  int64_t read(const std::string& name, const Tensor& out, int64_t offset = 0);
  // Blocks until the ticket's transfer is done; throws naming the file when it failed.
  void wait(int64_t ticket);

  // The bytes of every buffer on disk.
  int64_t bytes() const;
  bool direct_io() const { return direct_io_; }
  const char* backend() const { return io_.backend(); }
  const std::filesystem::path& folder() const { return folder_; }

 private:
  struct File {
    std::filesystem::path path;
    int64_t numel = 0;
    int buffered_fd = -1;
    int direct_fd = -1;  // -1 without O_DIRECT
  };
  int64_t transfer(const std::string& name, const Tensor& data, int64_t offset, bool write);
  const File& file(const std::string& name, const char* op) const;

  std::filesystem::path folder_;
  bool direct_io_ = false;
  std::map<std::string, File> files_;
  std::map<int64_t, Tensor> held_;  // the memory of transfers in flight, by ticket
  AsyncFileIo io_;
};

}  // namespace strata::zero
