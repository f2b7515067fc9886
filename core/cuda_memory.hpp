// CUDA devices and memory, as torch.cuda's: which device this process uses, and the statistics and
// controls of the caching pool behind every CUDA tensor (core/cuda/cuda_allocator.cu).
//
// Devices are numbered among those visible: the CUDA runtime applies CUDA_VISIBLE_DEVICES before
// Strata sees any device, so with CUDA_VISIBLE_DEVICES=2,3 device 0 is the machine's GPU 2.
//
// The pool is cudaMallocAsync's stream-ordered pool of each device. Freed blocks stay cached in the
// pool for reuse; the pool returns memory to the driver only above its release threshold, by
// default never (like PyTorch's caching allocator). The environment variable
// STRATA_CUDA_RELEASE_THRESHOLD (bytes) or set_release_threshold() lowers it, for a process that
// shares its GPU.
//
// In a build without CUDA every function here throws a strata::Error saying so.
#pragma once

#include <cstddef>
#include <cstdint>

namespace strata::cuda {

// Makes `device` the calling thread's current CUDA device. Error if it is not visible.
void set_device(int device);
int current_device();

// The device a process of a multi-process job uses: local_rank modulo the number of visible
// devices (one process per GPU when there are as many processes per node as GPUs). Error when no
// device is visible or local_rank is negative.
int device_for_local_rank(int local_rank);
// The mapping itself, for a given device count (what device_for_local_rank applies).
int device_for_local_rank(int local_rank, int visible_devices);

struct DeviceMemoryStats {
  size_t allocated_bytes = 0;       // bytes held by live tensors (as requested)
  size_t peak_allocated_bytes = 0;  // high-water mark of allocated_bytes since the last reset
  size_t reserved_bytes = 0;        // bytes the pool holds from the driver: live blocks and cache
  size_t peak_reserved_bytes = 0;   // high-water mark of reserved_bytes since the last reset
};

// torch.cuda.memory_allocated / max_memory_allocated / memory_reserved / max_memory_reserved.
DeviceMemoryStats memory_stats(int device);
// Starts both peaks again from the current values.
void reset_peak_memory_stats(int device);
// Returns the cached (unused) memory of every device's pool to the driver. Waits for the device to
// finish its queued work first, so frees still in flight are returned too.
void empty_cache();
// Bytes of cached memory a device's pool keeps at a synchronisation point before it releases the
// rest to the driver (UINT64_MAX: keep everything).
void set_release_threshold(int device, uint64_t bytes);

}  // namespace strata::cuda
