// ShmCollectives (parallel/shm_collectives.hpp): collectives through a shared-memory window.
#include "parallel/shm_collectives.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/error.hpp"
#include "parallel/mpi_running.hpp"

namespace strata::dist::detail {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, message, &length);
  fail("ProcessGroup(mpi) shared-memory ", what,
       ": MPI failed: ", std::string_view(message, length));
}

// dst[0, n) = the reduction of src[0..sources)[0, n) in source order, accumulated in A and divided
// by `size` for avg; also written to copy[0, n) unless it is null. Blocks of kBlock stay in L1
// while every source is added in (dst may be a source: a block is read before it is written).
template <typename T>
void reduce(const T* const* src, int sources, int64_t n, ReduceOp op, int size, T* dst, T* copy) {
  using A = compute_t<T>;
  constexpr int64_t kBlock = 1024;
  alignas(64) A acc[kBlock];
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    int64_t m = std::min(kBlock, n - begin);
    const T* s0 = src[0] + begin;
    for (int64_t i = 0; i < m; ++i) acc[i] = static_cast<A>(s0[i]);
    for (int q = 1; q < sources; ++q) {
      const T* s = src[q] + begin;
      if (op == ReduceOp::max) {
        for (int64_t i = 0; i < m; ++i) {
          A v = static_cast<A>(s[i]);
          acc[i] = acc[i] < v ? v : acc[i];
        }
      } else {
        for (int64_t i = 0; i < m; ++i) acc[i] += static_cast<A>(s[i]);
      }
    }
    T* d = dst + begin;
    if (op == ReduceOp::avg) {
      A divisor = static_cast<A>(size);
      for (int64_t i = 0; i < m; ++i) d[i] = static_cast<T>(acc[i] / divisor);
    } else {
      for (int64_t i = 0; i < m; ++i) d[i] = static_cast<T>(acc[i]);
    }
    if (copy) std::memcpy(copy + begin, d, m * sizeof(T));
  }
}

}  // namespace

std::unique_ptr<ShmCollectives> ShmCollectives::create(MPI_Comm comm) {
  MPI_Comm node;
  check(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node), "split");
  int size = 0, node_size = 0, node_rank = 0;
  MPI_Comm_size(comm, &size);
  MPI_Comm_size(node, &node_size);
  MPI_Comm_rank(node, &node_rank);
  if (node_size != size || size < 2) {
    MPI_Comm_free(&node);
    return nullptr;
  }
  MPI_Comm_set_errhandler(node, MPI_ERRORS_RETURN);
  size_t chunk_bytes = kDefaultChunkBytes;
  if (const char* env = std::getenv("STRATA_SHM_CHUNK_BYTES")) {
    char* end = nullptr;
    unsigned long long value = std::strtoull(env, &end, 10);
    STRATA_CHECK(*env && *end == 0 && value >= 4096, "ProcessGroup(mpi): STRATA_SHM_CHUNK_BYTES='",
                 env, "' is not a byte count of at least 4096");
    chunk_bytes = value;
  }
  return std::make_unique<ShmCollectives>(node, node_rank, node_size, chunk_bytes);
}

ShmCollectives::ShmCollectives(MPI_Comm node, int rank, int size, size_t chunk_bytes)
    : node_(node), rank_(rank), size_(size), chunk_bytes_(chunk_bytes), segments_(size) {}

ShmCollectives::~ShmCollectives() {
  if (!mpi_running()) return;
  release();
  MPI_Comm_free(&node_);
}

void ShmCollectives::release() {
  if (win_ == MPI_WIN_NULL) return;
  MPI_Win_unlock_all(win_);
  MPI_Win_free(&win_);
  half_bytes_ = 0;
}

void ShmCollectives::reserve(size_t bytes) {
  bytes = std::min(bytes, chunk_bytes_);
  if (bytes <= half_bytes_) return;
  release();
  size_t half = (bytes + 4095) / 4096 * 4096;  // page-aligned halves
  MPI_Info info;
  MPI_Info_create(&info);
  MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each segment on its own pages
  char* base = nullptr;
  int rc = MPI_Win_allocate_shared(static_cast<MPI_Aint>(2 * half), 1, info, node_, &base, &win_);
  MPI_Info_free(&info);
  check(rc, "window allocation");
  // Huge pages where the kernel backs shared memory with them (fewer TLB misses); a hint only.
  madvise(base, 2 * half, MADV_HUGEPAGE);
  for (int r = 0; r < size_; ++r) {
    MPI_Aint size = 0;
    int unit = 0;
    check(MPI_Win_shared_query(win_, r, &size, &unit, &segments_[r]), "window query");
  }
  check(MPI_Win_lock_all(MPI_MODE_NOCHECK, win_), "window lock");
  half_bytes_ = half;
}

char* ShmCollectives::next_half(int rank) {
  phase_ ^= 1;
  return half(rank);
}

// MPI_Barrier would spin until the last rank arrives. A rank that arrives early is typically a
// progress thread that launched a gradient bucket while the other ranks are still in backward:
// spinning there takes a core from this rank's own backward (2 ranks on 2 cores run 3 threads).
// So it polls a non-blocking barrier, and sleeps between polls once the others are late.
void ShmCollectives::sync() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kSpin = std::chrono::microseconds(50), kNap = std::chrono::microseconds(50);
  MPI_Win_sync(win_);
  MPI_Request request;
  check(MPI_Ibarrier(node_, &request), "barrier");
  const Clock::time_point start = Clock::now();
  for (int done = 0;;) {
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "barrier");
    if (done) break;
    if (Clock::now() - start > kSpin) std::this_thread::sleep_for(kNap);
  }
  MPI_Win_sync(win_);
}

void ShmCollectives::allreduce(const Tensor& tensor, ReduceOp op) {
  const int64_t n = tensor.numel();
  const size_t element = tensor.element_size();
  reserve(n * element);
  const int64_t chunk = static_cast<int64_t>(half_bytes_ / element);
  STRATA_DISPATCH_NUMERIC(tensor.dtype(), "ProcessGroup(mpi) allreduce", [&] {
    scalar_t* data = tensor.data<scalar_t>();
    std::vector<const scalar_t*> src(size_);
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t c = std::min(chunk, n - begin);
      scalar_t* chunk_data = data + begin;
      auto slice = [&](int q) { return c * q / size_; };  // rank q reduces [slice(q), slice(q + 1))
      // Publish the slices the other ranks reduce; this rank's own slice stays where it is.
      auto* mine = reinterpret_cast<scalar_t*>(next_half(rank_));
      std::memcpy(mine, chunk_data, slice(rank_) * element);
      std::memcpy(mine + slice(rank_ + 1), chunk_data + slice(rank_ + 1),
                  (c - slice(rank_ + 1)) * element);
      sync();
      const int64_t lo = slice(rank_), hi = slice(rank_ + 1);
      for (int q = 0; q < size_; ++q)
        src[q] = (q == rank_ ? chunk_data : reinterpret_cast<const scalar_t*>(half(q))) + lo;
      // The reduced slice goes into the tensor and, for the others, into this rank's segment.
      reduce(src.data(), size_, hi - lo, op, size_, chunk_data + lo, mine + lo);
      sync();
      for (int q = 0; q < size_; ++q) {
        if (q == rank_) continue;
        std::memcpy(chunk_data + slice(q), reinterpret_cast<const scalar_t*>(half(q)) + slice(q),
                    (slice(q + 1) - slice(q)) * element);
      }
    }
  });
}

void ShmCollectives::reduce_scatter(const Tensor& output, const Tensor& input, ReduceOp op) {
  const int64_t n = output.numel();
  const size_t element = output.element_size();
  reserve(n * size_ * element);
  const int64_t chunk = static_cast<int64_t>(half_bytes_ / element / size_);
  STRATA_DISPATCH_NUMERIC(output.dtype(), "ProcessGroup(mpi) reduce_scatter", [&] {
    const scalar_t* in = input.data<scalar_t>();
    scalar_t* out = output.data<scalar_t>();
    std::vector<const scalar_t*> src(size_);
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t c = std::min(chunk, n - begin);
      // This rank's chunk of every rank's piece, piece q at [q c, (q + 1) c) of the half.
      // (its own piece, which only this rank reduces, is read from the input).
      auto* mine = reinterpret_cast<scalar_t*>(next_half(rank_));
      for (int q = 0; q < size_; ++q)
        if (q != rank_) std::memcpy(mine + q * c, in + q * n + begin, c * element);
      sync();
      for (int q = 0; q < size_; ++q)
        src[q] = q == rank_ ? in + rank_ * n + begin
                            : reinterpret_cast<const scalar_t*>(half(q)) + rank_ * c;
      reduce(src.data(), size_, c, op, size_, out + begin, static_cast<scalar_t*>(nullptr));
    }
  });
}

}  // namespace strata::dist::detail
