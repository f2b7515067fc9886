// CPU kernel of count_nonfinite: tests the exponent bits of every element (nonfinite_kernels.hpp).
// A contiguous row runs as blocks of integer compares the compiler vectorises: each block counts
// in lanes as wide as the elements (32 lanes of 16 bits per AVX-512 register for f16/bf16), which
// cannot wrap because a block holds fewer elements than the narrowest counter can count.
#include <algorithm>
#include <atomic>

#include "core/cpu/cpu_loop.hpp"
#include "core/dtype.hpp"
#include "core/nonfinite_kernels.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

constexpr int64_t kBlock = 32768;  // < 2^16: a block's count fits in 16 bits

template <class Bits, Bits kMask>
int64_t count_contiguous(const Bits* x, int64_t n) {
  int64_t total = 0;
  for (int64_t start = 0; start < n; start += kBlock) {
    const int64_t end = std::min(n, start + kBlock);
    Bits count = 0;
    _Pragma("omp simd reduction(+ : count)") for (int64_t i = start; i < end; ++i) {
      count += static_cast<Bits>((x[i] & kMask) == kMask);
    }
    total += count;
  }
  return total;
}

template <class Bits, Bits kMask>
int64_t count_strided(const char* x, int64_t stride, int64_t n) {
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    total += (*reinterpret_cast<const Bits*>(x + i * stride) & kMask) == kMask;
  }
  return total;
}

}  // namespace

void count_nonfinite_kernel(const Tensor& count, const Tensor& x) {
  auto loop = make_strided_loop<1>({&x});
  std::array<char*, 1> base = {static_cast<char*>(x.data_ptr())};
  std::atomic<int64_t> total{0};
  STRATA_DISPATCH_FLOATING(x.dtype(), "count_nonfinite", [&] {
    using bits_t = typename ExponentField<scalar_t>::bits_t;
    constexpr bits_t mask = ExponentField<scalar_t>::mask;
    for_each_row<1>(loop, base, [&total](char** ptrs, const int64_t* strides, int64_t n) {
      const int64_t found =
          strides[0] == sizeof(bits_t)
              ? count_contiguous<bits_t, mask>(reinterpret_cast<const bits_t*>(ptrs[0]), n)
              : count_strided<bits_t, mask>(ptrs[0], strides[0], n);
      if (found) total.fetch_add(found, std::memory_order_relaxed);
    });
  });
  *count.data<int64_t>() += total.load();
}

}  // namespace strata::cpu::STRATA_ISA
