#!/usr/bin/env bash
# Fails when a function outside strata::cpu::avx512 contains AVX-512 instructions.
#
# Kernel files are compiled once per ISA (cmake/StrataIsa.cmake). Inline functions and templates
# they share with the rest of the library (std::vector, conversions in core/half.hpp, ...) are
# emitted in every copy, and the linker keeps one of them. If it kept an AVX-512 copy, code running
# on an AVX2-only CPU would crash there. This check reads the linked binary: every function that
# uses zmm registers or mask registers must belong to the avx512 namespace (its name, or its
# template arguments, say avx512).
set -euo pipefail
binary=${1:?usage: isa_leak_check.sh BINARY}
leaks=$(objdump -d -C --no-show-raw-insn "$binary" | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; next }
  /%zmm|%k[1-7]/ { if (fn !~ /avx512/ && !(fn in seen)) { seen[fn] = 1; print fn } }')
if [[ -n "$leaks" ]]; then
  echo "AVX-512 code outside strata::cpu::avx512 in $binary:"
  echo "$leaks"
  exit 1
fi
echo "no AVX-512 code outside strata::cpu::avx512 in $binary"
