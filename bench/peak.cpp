// The arithmetic peak of one core: register-only loops of independent FMAs (f32, AVX2 and AVX-512)
// and of bf16 dot products (vdpbf16ps, AVX512_BF16). Twelve accumulators cover the FMA latency
// times the number of FMA pipes on current x86 cores, so the loop is throughput-bound.
#include <immintrin.h>

#include <algorithm>

#include "bench/bench.hpp"

namespace strata::bench {
namespace {

constexpr int kAccumulators = 12;

// Each kernel runs `iterations` rounds of one instruction per accumulator and returns a value
// that depends on every result, so no instruction is dead.
__attribute__((target("avx2,fma"))) float fma_avx2(long iterations) {
  __m256 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
  for (long n = 0; n < iterations; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_fmadd_ps(acc[i], x, y);
  }
  __m256 total = acc[0];
  for (int i = 1; i < kAccumulators; ++i) total = _mm256_add_ps(total, acc[i]);
  return _mm256_cvtss_f32(total);
}

__attribute__((target("avx512f"))) float fma_avx512(long iterations) {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  for (long n = 0; n < iterations; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
  }
  __m512 total = acc[0];
  for (int i = 1; i < kAccumulators; ++i) total = _mm512_add_ps(total, acc[i]);
  return _mm512_reduce_add_ps(total);
}

__attribute__((target("avx512f,avx512bf16"))) float dot_bf16(long iterations) {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  // 1.0 and 2^-24 as bf16 pairs.
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380);
  for (long n = 0; n < iterations; ++n) {
#pragma GCC unroll 12
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], x, y);
  }
  __m512 total = acc[0];
  for (int i = 1; i < kAccumulators; ++i) total = _mm512_add_ps(total, acc[i]);
  return _mm512_reduce_add_ps(total);
}

// Times kernel over a fixed number of rounds (flops_per_round counts every lane's multiply and
// add), reports the median of a few runs, and returns its GFLOP/s.
double peak_gflops(const char* name, const char* dtype, float (*kernel)(long),
                   double flops_per_round, const Options& options) {
  const long iterations = options.quick ? 20'000'000 : 100'000'000;
  volatile float sink = 0;
  double seconds = median_seconds([&] { sink = sink + kernel(iterations); }, options);
  double gflops = flops_per_round * iterations / seconds / 1e9;
  if (options.selected("peak", name)) {
    print({.bench = "peak",
           .name = name,
           .dtype = dtype,
           .shape = "registers",
           .library = "intrinsics",
           .threads = 1,
           .seconds = seconds,
           .gflops = gflops});
  }
  return gflops;
}

}  // namespace

Limits measure_peaks(const Options& options, Limits limits) {
  constexpr double kRound = kAccumulators * 2.0;  // multiply + add per lane
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    limits.fma_f32_gflops = peak_gflops("fma_avx2", "f32", fma_avx2, kRound * 8, options);
  }
  if (__builtin_cpu_supports("avx512f")) {
    double gflops = peak_gflops("fma_avx512", "f32", fma_avx512, kRound * 16, options);
    limits.fma_f32_gflops = std::max(limits.fma_f32_gflops, gflops);
  }
  if (__builtin_cpu_supports("avx512bf16")) {
    // Each lane multiplies and adds a pair of bf16 values: 4 flops per f32 lane.
    limits.dot_bf16_gflops =
        peak_gflops("dot_bf16", "bf16", dot_bf16, kAccumulators * 16 * 4.0, options);
  }
  return limits;
}

}  // namespace strata::bench
