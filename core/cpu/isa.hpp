// Run-time choice of the CPU instruction set. Kernel files listed with strata_add_isa_kernels() are
// compiled once per ISA into namespace strata::cpu::<isa>; STRATA_CPU_KERNEL(name) picks the copy
// for this machine. STRATA_CPU_ISA=avx2 in the environment forces the AVX2 copies (tests use it to
// run both paths on one machine).
#pragma once

#include <string_view>

namespace strata::cpu {

enum class Isa { generic, avx2, avx512 };

Isa active_isa();
std::string_view isa_name(Isa isa);

}  // namespace strata::cpu

#if defined(__x86_64__)
// STRATA_DECLARE_CPU_KERNEL(ret, name, (params)): declares name in every ISA namespace.
#define STRATA_DECLARE_CPU_KERNEL(ret, name, params) \
  namespace strata::cpu::avx2 {                      \
  ret name params;                                   \
  }                                                  \
  namespace strata::cpu::avx512 {                    \
  ret name params;                                   \
  }
#define STRATA_CPU_KERNEL(name)                                                             \
  (::strata::cpu::active_isa() == ::strata::cpu::Isa::avx512 ? &::strata::cpu::avx512::name \
                                                             : &::strata::cpu::avx2::name)
#else
#define STRATA_DECLARE_CPU_KERNEL(ret, name, params) \
  namespace strata::cpu::generic {                   \
  ret name params;                                   \
  }
#define STRATA_CPU_KERNEL(name) (&::strata::cpu::generic::name)
#endif
