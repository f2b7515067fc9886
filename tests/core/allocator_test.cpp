// The CPU caching allocator: reuse, statistics, alignment and huge-page backing.
#include <doctest/doctest.h>

#include <cstdint>

#include "core/allocator.hpp"
#include "core/storage.hpp"

using namespace strata;

TEST_CASE("freed blocks are reused and statistics track them") {
  empty_cache();
  reset_peak_memory_stats();
  MemoryStats before = memory_stats();
  void* first = nullptr;
  {
    Storage a(1000, Device::cpu());
    first = a.data();
    CHECK(reinterpret_cast<uintptr_t>(first) % 64 == 0);
    MemoryStats during = memory_stats();
    CHECK(during.current_bytes == before.current_bytes + 1000);
    CHECK(during.peak_bytes >= during.current_bytes);
  }
  MemoryStats after_free = memory_stats();
  CHECK(after_free.current_bytes == before.current_bytes);
  CHECK(after_free.cached_bytes >= 1000);
  {
    Storage b(1000, Device::cpu());
    CHECK(b.data() == first);  // same size class: the cached block comes back
    CHECK(memory_stats().cache_hits >= 1);
  }
  reset_peak_memory_stats();
  CHECK(memory_stats().peak_bytes == memory_stats().current_bytes);
  empty_cache();
  CHECK(memory_stats().cached_bytes == 0);
}

TEST_CASE("large blocks start on a huge-page boundary") {
  Storage big(size_t{5} << 20, Device::cpu());
  CHECK(reinterpret_cast<uintptr_t>(big.data()) % (size_t{2} << 20) == 0);
  static_cast<char*>(big.data())[(size_t{5} << 20) - 1] = 1;  // the whole block is usable
}
