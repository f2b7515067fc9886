// CPU element-wise kernels: the shared bodies of elementwise_dispatch.hpp run on map_elements
// (elementwise_loop.hpp), which vectorises contiguous rows. f32 transcendentals are the
// polynomials of vec_math.hpp (gelu's forward on AVX-512: the table-based vm::normal_cdf16, in a
// VectorLoop); f64 calls libm.
#include <cmath>

#include "core/cpu/elementwise_loop.hpp"
#include "core/cpu/vec_math.hpp"
#include "core/elementwise_dispatch.hpp"
#include "core/elementwise_kernels.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

struct CpuMath {
  STRATA_VM_INLINE static float exp(float x) { return vm::exp(x); }
  STRATA_VM_INLINE static float log(float x) { return vm::log(x); }
  STRATA_VM_INLINE static float tanh(float x) { return vm::tanh(x); }
  STRATA_VM_INLINE static float normal_cdf(float x) { return vm::normal_cdf(x); }
  STRATA_VM_INLINE static float sqrt(float x) { return std::sqrt(x); }
  STRATA_VM_INLINE static float abs(float x) { return std::fabs(x); }
  STRATA_VM_INLINE static float pow(float a, float b) { return std::pow(a, b); }
  STRATA_VM_INLINE static double exp(double x) { return std::exp(x); }
  STRATA_VM_INLINE static double log(double x) { return std::log(x); }
  STRATA_VM_INLINE static double tanh(double x) { return std::tanh(x); }
  STRATA_VM_INLINE static double normal_cdf(double x) {
    return 0.5 * std::erfc(-x * 0.70710678118654752440);
  }
  STRATA_VM_INLINE static double sqrt(double x) { return std::sqrt(x); }
  STRATA_VM_INLINE static double abs(double x) { return std::fabs(x); }
  STRATA_VM_INLINE static double pow(double a, double b) { return std::pow(a, b); }
};

}  // namespace

#if defined(__AVX512F__)
// gelu's forward on AVX-512: x Phi(x) with Phi from vm::normal_cdf16 (a table lookup by
// permutation, half the work of the scalar polynomial), 16 lanes at a time and one masked vector
// for the tail (masking every vector costs 10%).
template <>
struct VectorLoop<ew::Unary<UnaryOp::gelu, CpuMath>, float, float> {
  static constexpr bool available = true;
  static void run(int64_t n, float* out, const float* x) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
      __m512 v = _mm512_loadu_ps(x + i);
      _mm512_storeu_ps(out + i, _mm512_mul_ps(v, vm::normal_cdf16(v)));
    }
    if (i == n) return;
    __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(v, vm::normal_cdf16(v)));
  }
};
#endif

namespace {

struct CpuEngine {
  template <class Out, class... In, class Fn>
  static void map(const Tensor& out, const std::array<const Tensor*, sizeof...(In)>& inputs,
                  const Fn& fn) {
    map_elements<Out, In...>(out, inputs, fn);
  }
};

}  // namespace

STRATA_DEFINE_ELEMENTWISE_KERNELS(CpuEngine, CpuMath)

}  // namespace strata::cpu::STRATA_ISA
