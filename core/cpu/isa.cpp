#include "core/cpu/isa.hpp"

#include <cstdlib>
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

}  // namespace

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
