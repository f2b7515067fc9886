// ShmCollectives (parallel/shm_collectives.hpp): collectives through a shared-memory window.
#include "parallel/shm_collectives.hpp"

#include <fcntl.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
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

// Outputs of at least this many bytes are written with streaming stores: they exceed what the
// last-level cache keeps, and a plain store would first read every line it writes (at 256 MB, a
// zero-copy allreduce moved a third more bytes that way).
constexpr int64_t kStreamBytes = int64_t{64} << 20;

// dst[0, bytes) = src[0, bytes), the whole 16-byte words of dst with streaming stores (SSE2, part
// of x86-64). The caller's barrier starts with a store fence (fence()), which orders them.
void stream_copy(char* dst, const char* src, int64_t bytes) {
#if defined(__SSE2__)
  const int64_t head = std::min<int64_t>(bytes, -reinterpret_cast<uintptr_t>(dst) & 15);
  std::memcpy(dst, src, head);
  int64_t i = head;
  for (; i + 16 <= bytes; i += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i)));
  std::memcpy(dst + i, src + i, bytes - i);
#else
  std::memcpy(dst, src, bytes);
#endif
}

// dst[0..dests)[0, n) = the reduction of src[0..sources)[0, n) in source order, accumulated in A
// and divided by `size` for avg. Blocks of kBlock stay in L1 while every source is added in (a
// destination may be a source: a block is read before it is written); with `stream`, each block
// is rounded into an L1 buffer and streamed to every destination.
template <typename T>
void reduce(const T* const* src, int sources, int64_t n, ReduceOp op, int size, T* const* dst,
            int dests, bool stream = false) {
  using A = compute_t<T>;
  constexpr int64_t kBlock = 1024;
  alignas(64) A acc[kBlock];
  alignas(64) T out[kBlock];
  for (int64_t begin = 0; begin < n; begin += kBlock) {
    const int64_t m = std::min(kBlock, n - begin);
    const T* s0 = src[0] + begin;
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) acc[i] = static_cast<A>(s0[i]);
    for (int q = 1; q < sources; ++q) {
      const T* s = src[q] + begin;
      if (op == ReduceOp::max) {
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) {
          A v = static_cast<A>(s[i]);
          acc[i] = acc[i] < v ? v : acc[i];
        }
      } else {
#pragma omp simd
        for (int64_t i = 0; i < m; ++i) acc[i] += static_cast<A>(s[i]);
      }
    }
    if (op == ReduceOp::avg) {
      const A divisor = static_cast<A>(size);
#pragma omp simd
      for (int64_t i = 0; i < m; ++i) acc[i] = acc[i] / divisor;
    }
    T* d0 = stream ? out : dst[0] + begin;
#pragma omp simd
    for (int64_t i = 0; i < m; ++i) d0[i] = static_cast<T>(acc[i]);
    for (int q = stream ? 0 : 1; q < dests; ++q) {
      char* to = reinterpret_cast<char*>(dst[q] + begin);
      const char* from = reinterpret_cast<const char*>(d0);
      if (stream)
        stream_copy(to, from, m * static_cast<int64_t>(sizeof(T)));
      else
        std::memcpy(to, from, m * sizeof(T));
    }
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

void ShmCollectives::sync() {
  MPI_Win_sync(win_);
  barrier();
  MPI_Win_sync(win_);
}

// MPI_Barrier would spin until the last rank arrives. A rank that arrives early is typically a
// progress thread that launched a gradient bucket while the other ranks are still in backward:
// spinning there takes a core from this rank's own backward (2 ranks on 2 cores run 3 threads).
// So it polls a non-blocking barrier, and sleeps between polls once the others are late.
void ShmCollectives::barrier() {
  using Clock = std::chrono::steady_clock;
  constexpr auto kSpin = std::chrono::microseconds(50), kNap = std::chrono::microseconds(50);
  MPI_Request request;
  check(MPI_Ibarrier(node_, &request), "barrier");
  const Clock::time_point start = Clock::now();
  for (int done = 0;;) {
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "barrier");
    if (done) break;
    if (Clock::now() - start > kSpin) std::this_thread::sleep_for(kNap);
  }
}

void ShmCollectives::allreduce(const Tensor& tensor, ReduceOp op) {
  const int64_t n = tensor.numel();
  const size_t element = tensor.element_size();
  if (symmetric_offset(tensor) >= 0) {
    const std::vector<char*> copies = on_every_rank(tensor);
    const int64_t lo = n * rank_ / size_, hi = n * (rank_ + 1) / size_;
    fence();  // every rank's input is in place
    STRATA_DISPATCH_NUMERIC(tensor.dtype(), "ProcessGroup(mpi) allreduce", [&] {
      std::vector<scalar_t*> slices(size_);
      for (int q = 0; q < size_; ++q) slices[q] = reinterpret_cast<scalar_t*>(copies[q]) + lo;
      reduce(slices.data(), size_, hi - lo, op, size_, slices.data(), size_,
             tensor.nbytes() >= kStreamBytes);
    });
    fence();  // every slice reduced into every rank's tensor
    return;
  }
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
      scalar_t* dst[] = {chunk_data + lo, mine + lo};
      reduce(src.data(), size_, hi - lo, op, size_, dst, 2);
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
  if (symmetric_offset(input) >= 0) {
    const std::vector<char*> inputs = on_every_rank(input);
    fence();  // every rank's input is in place
    STRATA_DISPATCH_NUMERIC(output.dtype(), "ProcessGroup(mpi) reduce_scatter", [&] {
      std::vector<const scalar_t*> chunks(size_);
      for (int q = 0; q < size_; ++q)
        chunks[q] = reinterpret_cast<const scalar_t*>(inputs[q]) + rank_ * n;
      scalar_t* dst[] = {output.data<scalar_t>()};
      reduce(chunks.data(), size_, n, op, size_, dst, 1);
    });
    fence();  // no rank rewrites its input while another still reads it
    return;
  }
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
      scalar_t* dst[] = {out + begin};
      reduce(src.data(), size_, c, op, size_, dst, 1);
    }
  });
}

void ShmCollectives::allgather(const Tensor& output, const Tensor& input) {
  const size_t piece = input.nbytes();
  const char* mine = static_cast<const char*>(input.data_ptr());
  auto copy = output.nbytes() >= kStreamBytes
                  ? stream_copy
                  : [](char* d, const char* s, int64_t n) { std::memcpy(d, s, n); };
  fence();  // every rank's input is in place, and every rank is done with its output's old values
  if (symmetric_offset(output) >= 0) {
    // Push: this rank's piece into every rank's output.
    for (char* out : on_every_rank(output)) {
      char* place = out + rank_ * piece;
      if (place != mine) copy(place, mine, piece);
    }
  } else {
    // Pull: every rank's piece from its symmetric input.
    const std::vector<char*> inputs = on_every_rank(input);
    char* out = static_cast<char*>(output.data_ptr());
    for (int q = 0; q < size_; ++q)
      if (out + q * piece != inputs[q]) copy(out + q * piece, inputs[q], piece);
  }
  fence();  // every piece written, every input read
}

// One symmetric allocation: every rank's mapping of the same bytes, this rank's included.
struct ShmCollectives::Mapping {
  std::vector<char*> ranks;
  size_t bytes = 0;
  ~Mapping() {
    for (char* base : ranks)
      if (base) munmap(base, bytes);
  }
};

Tensor ShmCollectives::allocate(const Shape& shape, DType dtype) {
  const size_t bytes = std::max<size_t>(shape_numel(shape) * element_size(dtype), 1);
  const size_t mapped = (bytes + 4095) / 4096 * 4096;
  // "/strata.<pid>.<allocation>": unique on the node while it exists.
  int pid = static_cast<int>(getpid());
  std::vector<int> pids(size_);
  check(MPI_Allgather(&pid, 1, MPI_INT, pids.data(), 1, MPI_INT, node_), "symmetric allocation");
  auto name = [&](int q) {
    return "/strata." + std::to_string(pids[q]) + "." + std::to_string(allocations_);
  };
  ++allocations_;
  // Every step's outcome is agreed before the next, so all ranks throw together or none does.
  std::string problem;
  bool created = false;  // this rank's name exists until unlinked
  auto agree = [&](const char* stage) {
    int ok = problem.empty(), all_ok = 0;
    check(MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, node_), "symmetric allocation");
    if (all_ok) return;
    if (created) shm_unlink(name(rank_).c_str());
    fail("ProcessGroup(mpi) symmetric allocation of ", bytes, " bytes failed while ", stage,
         problem.empty() ? " on another rank (see its message)"
                         : " on rank " + std::to_string(rank_) + ": " + problem);
  };
  auto mapping = std::make_shared<Mapping>();
  mapping->bytes = mapped;
  mapping->ranks.assign(size_, nullptr);
  auto map = [&](int q, int flags) {
    const std::string path = name(q);
    int fd = shm_open(path.c_str(), flags, 0600);
    if (fd < 0) {
      problem = "shm_open(" + path + "): " + std::strerror(errno);
      return;
    }
    if (q == rank_) {
      created = true;
      // posix_fallocate reserves the pages now: a full /dev/shm is an error here, not a SIGBUS
      // on first touch.
      if (int rc = posix_fallocate(fd, 0, static_cast<off_t>(mapped)))
        problem = "reserving " + std::to_string(mapped) + " bytes in /dev/shm" + path + ": " +
                  std::strerror(rc) + " (is /dev/shm large enough?)";
    }
    if (problem.empty()) {
      // MAP_POPULATE maps every page now, outside any timed collective.
      void* base = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
      if (base == MAP_FAILED)
        problem = "mmap(" + path + "): " + std::strerror(errno);
      else
        mapping->ranks[q] = static_cast<char*>(base);
    }
    close(fd);
  };
  map(rank_, O_CREAT | O_EXCL | O_RDWR);
  agree("creating this rank's shared memory");
  for (int q = 0; q < size_; ++q)
    if (q != rank_ && problem.empty()) map(q, O_RDWR);
  agree("mapping the other ranks' shared memory");
  // Every rank has mapped this rank's object: the name is no longer needed (the memory lives on
  // until the last rank unmaps it).
  shm_unlink(name(rank_).c_str());

  std::erase_if(mappings_, [](const auto& m) { return m.expired(); });
  mappings_.push_back(mapping);
  char* data = mapping->ranks[rank_];
  return Tensor(Storage(data, bytes, Device::cpu(), mapping), shape, contiguous_strides(shape), 0,
                dtype);
}

std::shared_ptr<const ShmCollectives::Mapping> ShmCollectives::mapping_of(
    const Tensor& tensor) const {
  const char* data = static_cast<const char*>(tensor.data_ptr());
  for (const auto& weak : mappings_) {
    auto mapping = weak.lock();
    if (!mapping) continue;
    const char* base = mapping->ranks[rank_];
    if (data >= base && data + tensor.nbytes() <= base + mapping->bytes) return mapping;
  }
  return nullptr;
}

int64_t ShmCollectives::symmetric_offset(const Tensor& tensor) const {
  auto mapping = mapping_of(tensor);
  return mapping ? static_cast<const char*>(tensor.data_ptr()) - mapping->ranks[rank_] : -1;
}

std::vector<char*> ShmCollectives::on_every_rank(const Tensor& tensor) const {
  auto mapping = mapping_of(tensor);
  STRATA_CHECK(mapping,
               "ProcessGroup(mpi): internal error: a tensor left its symmetric allocation");
  const int64_t offset = static_cast<const char*>(tensor.data_ptr()) - mapping->ranks[rank_];
  std::vector<char*> copies;
  for (char* base : mapping->ranks) copies.push_back(base + offset);
  return copies;
}

void ShmCollectives::fence() {
  // The barrier orders the ranks; the fences keep this rank's stores before it and its loads
  // after it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
#if defined(__SSE2__)
  _mm_sfence();  // streaming stores are weakly ordered: drain them before the other ranks read
#endif
  barrier();
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace strata::dist::detail
