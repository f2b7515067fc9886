// ShmCollectives (parallel/shm_collectives.hpp): collectives through a shared-memory window.
#include "parallel/shm_collectives.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

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
// by `size` for avg. Blocks of kBlock stay in L1 while every source is added in.
template <typename T>
void reduce(const T* const* src, int sources, int64_t n, ReduceOp op, int size, T* dst) {
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
  }
}

// The element range [lo, hi) of n that rank r reduces.
int64_t slice_begin(int64_t n, int r, int size) { return n * r / size; }

char* bytes(const Tensor& t) { return static_cast<char*>(t.data_ptr()); }

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
  return std::make_unique<ShmCollectives>(node, node_rank, node_size);
}

ShmCollectives::ShmCollectives(MPI_Comm node, int rank, int size)
    : node_(node), rank_(rank), size_(size), segments_(size) {}

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
  bytes = std::min(bytes, kMaxChunkBytes);
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

void ShmCollectives::sync() {
  MPI_Win_sync(win_);
  check(MPI_Barrier(node_), "barrier");
  MPI_Win_sync(win_);
}

void ShmCollectives::allreduce(const Tensor& tensor, ReduceOp op) {
  const int64_t n = tensor.numel();
  const size_t element = tensor.element_size();
  reserve(n * element);
  const int64_t chunk = static_cast<int64_t>(half_bytes_ / element);
  std::vector<char*> sources(size_);
  STRATA_DISPATCH_NUMERIC(tensor.dtype(), "ProcessGroup(mpi) allreduce", [&] {
    scalar_t* data = tensor.data<scalar_t>();
    for (int64_t begin = 0; begin < n; begin += chunk) {
      const int64_t c = std::min(chunk, n - begin);
      std::memcpy(next_half(rank_), data + begin, c * element);
      sync();
      const int64_t lo = slice_begin(c, rank_, size_), hi = slice_begin(c, rank_ + 1, size_);
      std::vector<const scalar_t*> src(size_);
      for (int q = 0; q < size_; ++q) src[q] = reinterpret_cast<const scalar_t*>(half(q)) + lo;
      reduce(src.data(), size_, hi - lo, op, size_, reinterpret_cast<scalar_t*>(half(rank_)) + lo);
      sync();
      for (int q = 0; q < size_; ++q) {
        const int64_t qlo = slice_begin(c, q, size_), qhi = slice_begin(c, q + 1, size_);
        std::memcpy(data + begin + qlo, reinterpret_cast<const scalar_t*>(half(q)) + qlo,
                    (qhi - qlo) * element);
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
      auto* mine = reinterpret_cast<scalar_t*>(next_half(rank_));
      for (int q = 0; q < size_; ++q) std::memcpy(mine + q * c, in + q * n + begin, c * element);
      sync();
      for (int q = 0; q < size_; ++q)
        src[q] = reinterpret_cast<const scalar_t*>(half(q)) + rank_ * c;
      reduce(src.data(), size_, c, op, size_, out + begin);
    }
  });
}

void ShmCollectives::allgather(const Tensor& output, const Tensor& input) {
  const int64_t n = input.numel();
  const size_t element = input.element_size();
  reserve(n * element);
  const int64_t chunk = static_cast<int64_t>(half_bytes_ / element);
  const char* in = bytes(input);
  char* out = bytes(output);
  for (int64_t begin = 0; begin < n; begin += chunk) {
    const int64_t c = std::min(chunk, n - begin);
    std::memcpy(next_half(rank_), in + begin * element, c * element);
    sync();
    for (int q = 0; q < size_; ++q)
      std::memcpy(out + (q * n + begin) * element, half(q), c * element);
  }
}

}  // namespace strata::dist::detail
