// Asynchronous file I/O for NVMe offload, shaped by the config's aio block (io/config.hpp
// AioConfig, DeepSpeed's): each submitted transfer is split into up to thread_count parts, one per
// worker thread, and each part into block_size pieces. With io_uring (Debian's liburing-dev, found
// at build time and usable at run time) a worker keeps up to queue_depth pieces in flight on its
// own ring: single_submit submits pieces one system call each instead of in batches, and
// overlap_events refills the ring as each piece completes instead of after the whole batch.
// Without io_uring a worker reads and writes its pieces with pread/pwrite in turn.
// STRATA_NVME_IO=pread in the environment forces that path (tests use it to run both).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/config.hpp"

namespace strata::zero {

// One contiguous transfer between memory and a file opened by the caller.
struct FileTransfer {
  int fd = -1;
  char* data = nullptr;
  int64_t bytes = 0;
  int64_t offset = 0;  // in the file
  bool write = false;
  std::string what;  // names the buffer and the file in error messages
};

class AsyncFileIo {
 public:
  explicit AsyncFileIo(const io::AioConfig& config);
  // Finishes the queued transfers first.
  ~AsyncFileIo();
  AsyncFileIo(const AsyncFileIo&) = delete;
  AsyncFileIo& operator=(const AsyncFileIo&) = delete;

  // Queues the transfers and returns a ticket for wait(). The memory must stay valid (and, for
  // writes, unchanged) until then.
  int64_t submit(std::vector<FileTransfer> transfers);
  // Blocks until the ticket's transfers are done; throws strata::Error naming the file and the
  // system's reason when one failed (after all of them have stopped).
  void wait(int64_t ticket);
  // "io_uring" or "pread/pwrite".
  const char* backend() const { return uring_ ? "io_uring" : "pread/pwrite"; }

 private:
  struct Part {
    int64_t ticket;
    FileTransfer transfer;
  };
  struct Ticket {
    int64_t parts_left = 0;
    std::string error;  // the first failure
  };

  void work();
  // Moves one part; returns the failure, empty on success.
  std::string run_part(const FileTransfer& part, void* ring) const;
  std::string run_part_uring(const FileTransfer& part, void* ring) const;
  std::string run_part_blocking(const FileTransfer& part) const;

  io::AioConfig config_;
  bool uring_ = false;
  std::mutex mutex_;
  std::condition_variable work_ready_, part_done_;
  std::deque<Part> queue_;
  std::map<int64_t, Ticket> tickets_;
  int64_t next_ticket_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace strata::zero
