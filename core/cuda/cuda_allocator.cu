// The CUDA allocator: cudaMallocAsync's stream-ordered pool, one per device, with Strata's byte
// accounting on top (the pool itself reports reserved bytes), and core/cuda_memory.hpp's
// statistics and controls.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/allocator.hpp"
#include "core/cuda/cuda_check.hpp"
#include "core/cuda_memory.hpp"

namespace strata::cuda {

int visible_device_count();

namespace {

// Makes device current for the scope (no runtime call when it already is).
struct DeviceGuard {
  int previous = 0;
  explicit DeviceGuard(int device) {
    STRATA_CUDA_CHECK(cudaGetDevice(&previous));
    if (previous != device) STRATA_CUDA_CHECK(cudaSetDevice(device));
    restore = previous != device;
  }
  ~DeviceGuard() {
    if (restore) cudaSetDevice(previous);
  }
  bool restore = false;
};

// STRATA_CUDA_RELEASE_THRESHOLD in bytes, or UINT64_MAX (keep everything) when unset.
uint64_t release_threshold_from_env() {
  const char* text = std::getenv("STRATA_CUDA_RELEASE_THRESHOLD");
  if (!text || !*text) return UINT64_MAX;
  errno = 0;
  char* end = nullptr;
  unsigned long long bytes = std::strtoull(text, &end, 10);
  STRATA_CHECK(errno == 0 && *end == '\0' && text[0] != '-', "STRATA_CUDA_RELEASE_THRESHOLD=", text,
               ": expected a byte count (a non-negative integer)");
  return bytes;
}

class CudaPoolAllocator final : public Allocator {
 public:
  explicit CudaPoolAllocator(int device) : device_(device) {
    STRATA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool_, device_));
    set_release_threshold(release_threshold_from_env());
  }

  void* allocate(size_t nbytes) override {
    void* ptr = nullptr;
    cudaError_t status;
    {
      // The legacy default stream is the current device's: allocate with this device current.
      DeviceGuard guard(device_);
      status = cudaMallocAsync(&ptr, nbytes, current_stream());
    }
    if (status != cudaSuccess) {
      cudaGetLastError();
      fail("CUDA out of memory on device ", device_, " allocating ", nbytes, " bytes (",
           stats().current_bytes,
           " bytes in use); reduce the batch size or enable ZeRO/offload, or call "
           "strata::cuda::empty_cache() if another process shares the GPU");
    }
    std::lock_guard lock(mutex_);
    current_ += nbytes;
    peak_ = std::max(peak_, current_);
    ++allocations_;
    return ptr;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    cudaFreeAsync(ptr, current_stream());
    std::lock_guard lock(mutex_);
    current_ -= nbytes;
  }

  // External device memory (the pool does not hold it) counts as allocated while live.
  void count_external(size_t nbytes, bool live) override {
    std::lock_guard lock(mutex_);
    if (live) {
      current_ += nbytes;
      peak_ = std::max(peak_, current_);
    } else {
      current_ -= nbytes;
    }
  }

  MemoryStats stats() const override {
    const uint64_t reserved = pool_attribute(cudaMemPoolAttrReservedMemCurrent);
    const uint64_t used = pool_attribute(cudaMemPoolAttrUsedMemCurrent);
    std::lock_guard lock(mutex_);
    MemoryStats s;
    s.current_bytes = current_;
    s.peak_bytes = peak_;
    s.reserved_bytes = reserved;
    s.cached_bytes = reserved > used ? reserved - used : 0;
    s.allocations = allocations_;
    return s;
  }

  DeviceMemoryStats device_stats() const {
    DeviceMemoryStats s;
    s.reserved_bytes = pool_attribute(cudaMemPoolAttrReservedMemCurrent);
    s.peak_reserved_bytes = pool_attribute(cudaMemPoolAttrReservedMemHigh);
    std::lock_guard lock(mutex_);
    s.allocated_bytes = current_;
    s.peak_allocated_bytes = peak_;
    return s;
  }

  void reset_peak_stats() override {
    // The pool's high-water mark can only be set to 0, which restarts it from the current value.
    uint64_t zero = 0;
    STRATA_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReservedMemHigh, &zero));
    std::lock_guard lock(mutex_);
    peak_ = current_;
    allocations_ = 0;
  }

  void empty_cache() override {
    DeviceGuard guard(device_);
    STRATA_CUDA_CHECK(cudaDeviceSynchronize());
    STRATA_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
  }

  void set_release_threshold(uint64_t bytes) {
    STRATA_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &bytes));
  }

 private:
  uint64_t pool_attribute(cudaMemPoolAttr attribute) const {
    uint64_t value = 0;
    STRATA_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, attribute, &value));
    return value;
  }

  int device_;
  cudaMemPool_t pool_ = nullptr;
  mutable std::mutex mutex_;
  size_t current_ = 0, peak_ = 0, allocations_ = 0;
};

// The pools, created on first use. Never destroyed: tensors in static objects may be freed after
// main returns.
std::mutex pools_mutex;
std::vector<std::unique_ptr<CudaPoolAllocator>>& pools() {
  static auto* pools = new std::vector<std::unique_ptr<CudaPoolAllocator>>(visible_device_count());
  return *pools;
}

CudaPoolAllocator& pool_allocator(int index) {
  STRATA_CHECK(index >= 0 && index < visible_device_count(), "CUDA device ", index,
               " does not exist: ", visible_device_count(),
               " device(s) are visible (check CUDA_VISIBLE_DEVICES)");
  std::lock_guard lock(pools_mutex);
  auto& slot = pools()[index];
  if (!slot) slot = std::make_unique<CudaPoolAllocator>(index);
  return *slot;
}

}  // namespace

Allocator& device_allocator(int index) { return pool_allocator(index); }

DeviceMemoryStats memory_stats(int device) { return pool_allocator(device).device_stats(); }

void reset_peak_memory_stats(int device) { pool_allocator(device).reset_peak_stats(); }

void empty_cache() {
  for (int device = 0; device < visible_device_count(); ++device) {
    CudaPoolAllocator* pool;
    {
      std::lock_guard lock(pools_mutex);
      pool = pools()[device].get();
    }
    if (pool) pool->empty_cache();
  }
}

void set_release_threshold(int device, uint64_t bytes) {
  pool_allocator(device).set_release_threshold(bytes);
}

}  // namespace strata::cuda
