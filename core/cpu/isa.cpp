#include "core/cpu/isa.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/error.hpp"

namespace strata::cpu {
namespace {

Isa detect_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  bool has_avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  bool has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  STRATA_CHECK(has_avx2, "Strata needs a CPU with AVX2 and FMA (x86-64-v3 or newer)");
  Isa best = has_avx512 ? Isa::avx512 : Isa::avx2;
  if (const char* forced = std::getenv("STRATA_CPU_ISA")) {
    std::string name = forced;
    STRATA_CHECK(name == "avx2" || name == "avx512", "STRATA_CPU_ISA=", name,
                 " is not an instruction set Strata has kernels for; use avx2 or avx512");
    if (name == "avx2") return Isa::avx2;
    STRATA_CHECK(best == Isa::avx512, "STRATA_CPU_ISA=avx512 but this CPU lacks AVX-512");
  }
  return best;
#else
  return Isa::generic;
#endif
}

// The size of the highest-level data or unified cache of cpu0 ("32768K" in sysfs), or 0.
int64_t read_last_level_cache_bytes() {
  int64_t best_level = 0, bytes = 0;
  for (int index = 0; index < 8; ++index) {
    std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream level_file(dir + "level"), type_file(dir + "type"), size_file(dir + "size");
    int64_t level = 0, size = 0;
    std::string type, unit;
    if (!(level_file >> level) || !(type_file >> type) || !(size_file >> size)) continue;
    if (type == "Instruction" || level < best_level) continue;
    size_file >> unit;
    best_level = level;
    bytes = size * (unit == "K" ? 1024 : unit == "M" ? 1024 * 1024 : 1);
  }
  return bytes;
}

std::atomic<int64_t>& stream_min_bytes_setting() {
  // Measured on Zen 4 (32 MiB L3): y = f(x) with plain stores beats streaming stores up to about
  // 12 MiB of output, where x and y together fill three quarters of the cache; above it the output
  // is evicted before it could be read again anyway, and streaming saves the read-for-ownership.
  static std::atomic<int64_t> bytes = last_level_cache_bytes() / 2;
  return bytes;
}

}  // namespace

int64_t last_level_cache_bytes() {
  static const int64_t bytes = [] {
    int64_t read = read_last_level_cache_bytes();
    return read > 0 ? read : int64_t{32} << 20;
  }();
  return bytes;
}

int64_t stream_min_bytes() { return stream_min_bytes_setting().load(std::memory_order_relaxed); }
void set_stream_min_bytes(int64_t bytes) { stream_min_bytes_setting().store(bytes); }

Isa active_isa() {
  static const Isa isa = detect_isa();
  return isa;
}

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::generic: return "generic";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
  }
  return "?";
}

}  // namespace strata::cpu
