// Run-time choice of the CPU instruction set. Kernel files listed with strata_add_isa_kernels() are
// compiled once per ISA into namespace strata::cpu::<isa>; STRATA_CPU_KERNEL(name) picks the copy
// for this machine. STRATA_CPU_ISA=avx2 in the environment forces the AVX2 copies (tests use it to
// run both paths on one machine).
#pragma once

#include <cstdint>
#include <string_view>

namespace strata::cpu {

enum class Isa { generic, avx2, avx512 };

Isa active_isa();
std::string_view isa_name(Isa isa);

// Size of the largest (last-level) data cache, from Linux's sysfs; 32 MiB where it cannot be read.
int64_t last_level_cache_bytes();

// Contiguous copy and cast outputs of at least this many bytes are written with streaming stores
// (core/cpu/stream_store.hpp). Half the last-level cache unless set; tests set 0 (stream every
// output) or INT64_MAX (none) to compare the two paths.
int64_t stream_min_bytes();
void set_stream_min_bytes(int64_t bytes);

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
