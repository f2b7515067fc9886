// Device memory allocators and their statistics.
//
// CPU: a caching allocator. Fresh pages cost a page fault each on first touch (≈12 µs per 4 KiB on
// the reference VMs, 0.35 GB/s), so freed blocks are kept in size classes and handed out again, and
// blocks of 2 MiB or more are backed by transparent huge pages. All blocks are 64-byte aligned.
// CUDA: the stream-ordered pool of cudaMallocAsync (core/cuda/cuda_allocator.cu).
#pragma once

#include <cstddef>

#include "core/device.hpp"

namespace strata {

struct MemoryStats {
  size_t current_bytes = 0;   // bytes in live allocations (as requested, before rounding)
  size_t peak_bytes = 0;      // high-water mark of current_bytes since the last reset
  size_t reserved_bytes = 0;  // bytes held from the system: live blocks plus the cache
  size_t cached_bytes = 0;    // bytes in freed blocks kept for reuse
  size_t allocations = 0;     // allocate() calls since the last reset
  size_t cache_hits = 0;      // of those, served from the cache
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr, size_t nbytes) = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak_stats() = 0;
  // Returns every cached block to the system.
  virtual void empty_cache() = 0;
  // Counts memory this allocator does not own (a Storage over external memory, such as the shared
  // mappings of symmetric tensors) in current, peak and reserved bytes while `live`, so that the
  // statistics cover every tensor's bytes.
  virtual void count_external(size_t nbytes, bool live) = 0;
};

Allocator& cpu_allocator();
Allocator& allocator_for(Device device);

MemoryStats memory_stats(Device device = Device::cpu());
void reset_peak_memory_stats(Device device = Device::cpu());
void empty_cache(Device device = Device::cpu());

}  // namespace strata
