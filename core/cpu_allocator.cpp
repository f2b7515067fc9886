// The CPU caching allocator (see allocator.hpp for why it caches).
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "core/allocator.hpp"
#include "core/error.hpp"

namespace strata {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kHugePage = size_t{2} << 20;

// Rounds up to one of four classes per power of two (waste under 25%), in multiples of 64 bytes.
size_t size_class(size_t nbytes) {
  if (nbytes <= 4 * kAlignment) return std::max<size_t>(kAlignment, (nbytes + 63) & ~size_t{63});
  size_t power = std::bit_floor(nbytes);
  size_t quarter = power / 4;
  size_t rounded = (nbytes + quarter - 1) / quarter * quarter;
  return rounded >= kHugePage ? (rounded + kHugePage - 1) / kHugePage * kHugePage : rounded;
}

void* system_allocate(size_t bytes) {
  if (bytes >= kHugePage) {
    // Over-map by one huge page so the block can start on a 2 MiB boundary, then trim.
    size_t span = bytes + kHugePage;
    void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    auto base = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
    if (aligned > base) munmap(raw, aligned - base);
    size_t tail = base + span - (aligned + bytes);
    if (tail) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
    return reinterpret_cast<void*>(aligned);
  }
  return std::aligned_alloc(kAlignment, bytes);
}

void system_free(void* ptr, size_t bytes) {
  if (bytes >= kHugePage) {
    munmap(ptr, bytes);
  } else {
    std::free(ptr);
  }
}

class CpuCachingAllocator final : public Allocator {
 public:
  ~CpuCachingAllocator() override { empty_cache(); }

  void* allocate(size_t nbytes) override {
    size_t bytes = size_class(nbytes);
    std::lock_guard lock(mutex_);
    ++stats_.allocations;
    void* ptr = nullptr;
    auto& bucket = free_blocks_[bytes];
    if (!bucket.empty()) {
      ptr = bucket.back();
      bucket.pop_back();
      stats_.cached_bytes -= bytes;
      ++stats_.cache_hits;
    } else {
      ptr = system_allocate(bytes);
      if (!ptr) {
        release_cache_locked();
        ptr = system_allocate(bytes);
      }
      STRATA_CHECK(ptr, "CPU allocator: out of memory allocating ", nbytes, " bytes (",
                   stats_.reserved_bytes,
                   " bytes already reserved); reduce the batch size or "
                   "model size");
      stats_.reserved_bytes += bytes;
    }
    stats_.current_bytes += nbytes;
    stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.current_bytes);
    return ptr;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    size_t bytes = size_class(nbytes);
    std::lock_guard lock(mutex_);
    free_blocks_[bytes].push_back(ptr);
    stats_.cached_bytes += bytes;
    stats_.current_bytes -= nbytes;
  }

  void count_external(size_t nbytes, bool live) override {
    std::lock_guard lock(mutex_);
    if (live) {
      stats_.current_bytes += nbytes;
      stats_.reserved_bytes += nbytes;
      stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.current_bytes);
    } else {
      stats_.current_bytes -= nbytes;
      stats_.reserved_bytes -= nbytes;
    }
  }

  MemoryStats stats() const override {
    std::lock_guard lock(mutex_);
    return stats_;
  }

  void reset_peak_stats() override {
    std::lock_guard lock(mutex_);
    stats_.peak_bytes = stats_.current_bytes;
    stats_.allocations = 0;
    stats_.cache_hits = 0;
  }

  void empty_cache() override {
    std::lock_guard lock(mutex_);
    release_cache_locked();
  }

 private:
  void release_cache_locked() {
    for (auto& [bytes, blocks] : free_blocks_) {
      for (void* ptr : blocks) system_free(ptr, bytes);
      stats_.reserved_bytes -= bytes * blocks.size();
      blocks.clear();
    }
    stats_.cached_bytes = 0;
  }

  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_blocks_;
  MemoryStats stats_;
};

}  // namespace

Allocator& cpu_allocator() {
  // Never destroyed: tensors in static objects may be freed after main returns.
  static auto* allocator = new CpuCachingAllocator();
  return *allocator;
}

MemoryStats memory_stats(Device device) { return allocator_for(device).stats(); }
void reset_peak_memory_stats(Device device) { allocator_for(device).reset_peak_stats(); }
void empty_cache(Device device) { allocator_for(device).empty_cache(); }

}  // namespace strata
