// core/cuda_memory.hpp: the local-rank mapping (pure, runs everywhere), the CPU-only build's
// errors, and on a GPU the device selection, the pool's statistics, their reset and empty_cache.
#include <doctest/doctest.h>

#include "core/cuda_memory.hpp"
#include "core/factories.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

TEST_CASE("device_for_local_rank: local rank modulo the visible devices") {
  CHECK(cuda::device_for_local_rank(0, 8) == 0);
  CHECK(cuda::device_for_local_rank(7, 8) == 7);
  CHECK(cuda::device_for_local_rank(9, 8) == 1);
  CHECK(cuda::device_for_local_rank(3, 1) == 0);
  CHECK(test::contains(test::error_of([] { cuda::device_for_local_rank(0, 0); }),
                       "no CUDA device is visible for local rank 0"));
  CHECK(test::contains(test::error_of([] { cuda::device_for_local_rank(-1, 2); }),
                       "local rank -1 is negative"));
}

TEST_CASE("without a GPU the device functions say why they cannot work") {
  if (cuda_is_available()) return;  // the next case covers this run
#if defined(STRATA_HAVE_CUDA)
  CHECK(test::contains(test::error_of([] { cuda::device_for_local_rank(0); }),
                       "no CUDA device is visible"));
  CHECK(test::contains(test::error_of([] { cuda::set_device(0); }), "does not exist"));
  CHECK(test::contains(test::error_of([] { cuda::memory_stats(0); }), "does not exist"));
#else
  for (auto call : {+[] { cuda::set_device(0); }, +[] { cuda::memory_stats(0); },
                    +[] { cuda::empty_cache(); }, +[] { cuda::device_for_local_rank(0); }}) {
    CHECK(test::contains(test::error_of(call), "this Strata build has no CUDA backend"));
  }
#endif
}

TEST_CASE("CUDA memory statistics follow allocations; peaks reset; empty_cache trims") {
  if (!cuda_is_available()) {
    MESSAGE("no CUDA device: device selection and the pool statistics are not checked in this run");
    return;
  }
  cuda::set_device(0);
  CHECK(cuda::current_device() == 0);
  CHECK(cuda::device_for_local_rank(cuda_device_count()) == 0);
  const cuda::DeviceMemoryStats before = cuda::memory_stats(0);
  const size_t bytes = size_t{64} << 20;
  {
    Tensor big = empty({static_cast<int64_t>(bytes / 4)}, {DType::f32, Device::cuda(0)});
    const cuda::DeviceMemoryStats during = cuda::memory_stats(0);
    CHECK(during.allocated_bytes == before.allocated_bytes + bytes);
    CHECK(during.peak_allocated_bytes >= during.allocated_bytes);
    CHECK(during.reserved_bytes >= during.allocated_bytes);
    CHECK(during.peak_reserved_bytes >= during.reserved_bytes);
  }
  const cuda::DeviceMemoryStats after = cuda::memory_stats(0);
  CHECK(after.allocated_bytes == before.allocated_bytes);
  CHECK(after.peak_allocated_bytes >= before.allocated_bytes + bytes);
  // Freed memory stays cached in the pool (the default release threshold keeps everything).
  CHECK(after.reserved_bytes >= bytes);
  cuda::reset_peak_memory_stats(0);
  CHECK(cuda::memory_stats(0).peak_allocated_bytes == after.allocated_bytes);
  cuda::empty_cache();
  CHECK(cuda::memory_stats(0).reserved_bytes < after.reserved_bytes);
  CHECK(test::contains(test::error_of([] { cuda::set_device(cuda_device_count()); }),
                       "does not exist"));
}

}  // namespace
}  // namespace strata
