// The CUDA allocator: cudaMallocAsync's stream-ordered pool, one per device, with Strata's byte
// accounting on top (the pool itself reports reserved bytes).
#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "core/allocator.hpp"
#include "core/cuda/cuda_check.hpp"

namespace strata::cuda {

int visible_device_count();

namespace {

class CudaPoolAllocator final : public Allocator {
 public:
  explicit CudaPoolAllocator(int device) : device_(device) {
    STRATA_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool_, device_));
    // Keep freed memory in the pool instead of returning it at every synchronisation.
    uint64_t keep_all = UINT64_MAX;
    STRATA_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_all));
  }

  void* allocate(size_t nbytes) override {
    void* ptr = nullptr;
    int previous = 0;
    STRATA_CUDA_CHECK(cudaGetDevice(&previous));
    STRATA_CUDA_CHECK(cudaSetDevice(device_));
    cudaError_t status = cudaMallocAsync(&ptr, nbytes, current_stream());
    cudaSetDevice(previous);
    if (status != cudaSuccess) {
      cudaGetLastError();
      fail("CUDA out of memory on device ", device_, " allocating ", nbytes, " bytes (", current_,
           " bytes in use); reduce the batch size or enable ZeRO/offload");
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

  MemoryStats stats() const override {
    uint64_t reserved = 0, used = 0;
    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &reserved);
    cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrUsedMemCurrent, &used);
    std::lock_guard lock(mutex_);
    MemoryStats s;
    s.current_bytes = current_;
    s.peak_bytes = peak_;
    s.reserved_bytes = reserved;
    s.cached_bytes = reserved > used ? reserved - used : 0;
    s.allocations = allocations_;
    return s;
  }

  void reset_peak_stats() override {
    std::lock_guard lock(mutex_);
    peak_ = current_;
    allocations_ = 0;
  }

  void empty_cache() override {
    STRATA_CUDA_CHECK(cudaDeviceSynchronize());
    STRATA_CUDA_CHECK(cudaMemPoolTrimTo(pool_, 0));
  }

 private:
  int device_;
  cudaMemPool_t pool_ = nullptr;
  mutable std::mutex mutex_;
  size_t current_ = 0, peak_ = 0, allocations_ = 0;
};

}  // namespace

Allocator& device_allocator(int index) {
  static std::vector<std::unique_ptr<CudaPoolAllocator>> allocators(visible_device_count());
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  auto& slot = allocators.at(index);
  if (!slot) slot = std::make_unique<CudaPoolAllocator>(index);
  return *slot;
}

}  // namespace strata::cuda
