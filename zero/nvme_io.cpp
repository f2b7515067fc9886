// The worker threads of AsyncFileIo and their two ways of moving a part: an io_uring ring per
// worker, or pread/pwrite.
#include "zero/nvme_io.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/error.hpp"

#ifdef STRATA_HAVE_LIBURING
#include <liburing.h>
#endif

namespace strata::zero {
namespace {

// Pieces (and parts) start at multiples of this in a transfer, so that a transfer that O_DIRECT
// accepts is cut into pieces it accepts too.
constexpr int64_t kDirectAlignment = 4096;

std::string failure(const FileTransfer& t, int64_t done, int error) {
  std::string reason = error ? std::strerror(error) : "unexpected end of file";
  if (error == ENOSPC || error == EDQUOT || error == EFBIG)
    reason += " (the file system holding it is full, or the file size limit is reached)";
  return t.what + ": " + (t.write ? "writing " : "reading ") + std::to_string(t.bytes) +
         " bytes at offset " + std::to_string(t.offset + done) + " failed: " + reason;
}

bool uring_usable() {
#ifdef STRATA_HAVE_LIBURING
  const char* forced = std::getenv("STRATA_NVME_IO");
  if (forced && std::string_view(forced) == "pread") return false;
  io_uring ring;
  if (io_uring_queue_init(1, &ring, 0) != 0) return false;  // e.g. forbidden by seccomp
  io_uring_queue_exit(&ring);
  return true;
#else
  return false;
#endif
}

}  // namespace

AsyncFileIo::AsyncFileIo(const io::AioConfig& config) : config_(config), uring_(uring_usable()) {
  config_.block_size =
      std::max(kDirectAlignment, config_.block_size / kDirectAlignment * kDirectAlignment);
  config_.queue_depth = std::max<int64_t>(1, config_.queue_depth);
  config_.thread_count = std::max<int64_t>(1, config_.thread_count);
  for (int64_t i = 0; i < config_.thread_count; ++i) workers_.emplace_back([this] { work(); });
}

AsyncFileIo::~AsyncFileIo() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

int64_t AsyncFileIo::submit(std::vector<FileTransfer> transfers) {
  std::unique_lock lock(mutex_);
  const int64_t ticket = next_ticket_++;
  Ticket& state = tickets_[ticket];
  for (FileTransfer& t : transfers) {
    // thread_count parts, each a whole number of pieces (the last takes the rest).
    const int64_t pieces = (t.bytes + config_.block_size - 1) / config_.block_size;
    const int64_t parts = std::max<int64_t>(1, std::min(config_.thread_count, pieces));
    for (int64_t p = 0; p < parts; ++p) {
      const int64_t begin = pieces * p / parts * config_.block_size;
      const int64_t end = std::min(t.bytes, pieces * (p + 1) / parts * config_.block_size);
      FileTransfer part = t;
      part.data += begin;
      part.offset += begin;
      part.bytes = end - begin;
      queue_.push_back({ticket, std::move(part)});
      ++state.parts_left;
    }
  }
  lock.unlock();
  work_ready_.notify_all();
  return ticket;
}

void AsyncFileIo::wait(int64_t ticket) {
  std::unique_lock lock(mutex_);
  auto it = tickets_.find(ticket);
  STRATA_CHECK(it != tickets_.end(), "AsyncFileIo::wait: unknown or already waited ticket ",
               ticket);
  part_done_.wait(lock, [&] { return it->second.parts_left == 0; });
  std::string error = std::move(it->second.error);
  tickets_.erase(it);
  if (!error.empty()) fail(error);
}

void AsyncFileIo::work() {
#ifdef STRATA_HAVE_LIBURING
  io_uring ring_storage;
  const bool have_ring = uring_ && io_uring_queue_init(static_cast<unsigned>(config_.queue_depth),
                                                       &ring_storage, 0) == 0;
  void* ring = have_ring ? &ring_storage : nullptr;
#else
  void* ring = nullptr;
#endif
  std::unique_lock lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, and nothing left
    Part part = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::string error = run_part(part.transfer, ring);
    lock.lock();
    Ticket& state = tickets_[part.ticket];
    if (state.error.empty()) state.error = std::move(error);
    if (--state.parts_left == 0) part_done_.notify_all();
  }
#ifdef STRATA_HAVE_LIBURING
  if (ring) io_uring_queue_exit(&ring_storage);
#endif
}

std::string AsyncFileIo::run_part(const FileTransfer& part, void* ring) const {
  return ring ? run_part_uring(part, ring) : run_part_blocking(part);
}

std::string AsyncFileIo::run_part_blocking(const FileTransfer& t) const {
  int64_t done = 0;
  while (done < t.bytes) {
    const size_t n = static_cast<size_t>(std::min(config_.block_size, t.bytes - done));
    const ssize_t moved = t.write ? pwrite(t.fd, t.data + done, n, t.offset + done)
                                  : pread(t.fd, t.data + done, n, t.offset + done);
    if (moved < 0 && errno == EINTR) continue;
    if (moved <= 0) return failure(t, done, moved < 0 ? errno : 0);
    done += moved;  // a short transfer continues where it stopped
  }
  return {};
}

#ifdef STRATA_HAVE_LIBURING
namespace {

// Hands the queued pieces to the kernel, again while it is briefly out of resources. On a failure
// the pieces already in flight still finish (the loop drains them) before the part reports it.
std::string submit_queued(io_uring* ring, const FileTransfer& t) {
  int submitted;
  while ((submitted = io_uring_submit(ring)) == -EAGAIN || submitted == -EINTR) {
  }
  return submitted < 0 ? failure(t, 0, -submitted) : std::string();
}

}  // namespace

std::string AsyncFileIo::run_part_uring(const FileTransfer& t, void* ring_ptr) const {
  io_uring* ring = static_cast<io_uring*>(ring_ptr);
  struct Piece {
    int64_t begin, bytes;  // within the part; a short completion moves begin on
  };
  std::deque<Piece> pending;
  for (int64_t begin = 0; begin < t.bytes; begin += config_.block_size)
    pending.push_back({begin, std::min(config_.block_size, t.bytes - begin)});
  std::vector<Piece> in_flight(static_cast<size_t>(config_.queue_depth));
  std::vector<size_t> free_slots;
  for (size_t s = in_flight.size(); s-- > 0;) free_slots.push_back(s);
  std::string error;
  while ((!pending.empty() && error.empty()) || free_slots.size() < in_flight.size()) {
    bool queued = false;
    while (error.empty() && !pending.empty() && !free_slots.empty()) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      if (!sqe) break;
      const size_t slot = free_slots.back();
      free_slots.pop_back();
      in_flight[slot] = pending.front();
      pending.pop_front();
      const Piece& p = in_flight[slot];
      if (t.write)
        io_uring_prep_write(sqe, t.fd, t.data + p.begin, static_cast<unsigned>(p.bytes),
                            static_cast<uint64_t>(t.offset + p.begin));
      else
        io_uring_prep_read(sqe, t.fd, t.data + p.begin, static_cast<unsigned>(p.bytes),
                           static_cast<uint64_t>(t.offset + p.begin));
      io_uring_sqe_set_data64(sqe, slot);
      queued = true;
      if (config_.single_submit) error = submit_queued(ring, t);
    }
    if (queued && !config_.single_submit) error = submit_queued(ring, t);
    // overlap_events: take completions as they come and refill; otherwise drain the batch.
    const size_t target = config_.overlap_events ? in_flight.size() - free_slots.size() - 1 : 0;
    while (in_flight.size() - free_slots.size() > target) {
      io_uring_cqe* cqe = nullptr;
      const int waited = io_uring_wait_cqe(ring, &cqe);
      if (waited == -EINTR) continue;
      if (waited < 0) return failure(t, 0, -waited);  // the ring itself broke
      const size_t slot = static_cast<size_t>(io_uring_cqe_get_data64(cqe));
      const int res = cqe->res;
      io_uring_cqe_seen(ring, cqe);
      free_slots.push_back(slot);
      Piece p = in_flight[slot];
      if (res == -EINTR || res == -EAGAIN) {
        pending.push_front(p);
      } else if (res <= 0) {
        if (error.empty()) error = failure(t, p.begin, -res);
      } else if (res < p.bytes) {
        pending.push_front({p.begin + res, p.bytes - res});
      }
    }
  }
  return error;
}
#else
std::string AsyncFileIo::run_part_uring(const FileTransfer& t, void*) const {
  return run_part_blocking(t);
}
#endif

}  // namespace strata::zero
