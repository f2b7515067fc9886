// Streaming (non-temporal) stores for large outputs. A plain store first reads the line it writes
// (read-for-ownership), so a kernel writing n bytes moves 2n on its output side; a streaming store
// writes whole lines to memory without reading them. That wins once the output is too large to be
// read again from cache: at least stream_min_bytes() (core/cpu/isa.hpp, half the last-level cache).
//
// write_contiguous(dst, n, stream, fill): fill(out, start, count) computes values [start,
// start + count) of a contiguous run at dst into out. Without streaming, out is dst itself (one
// call for the whole run); with it, out is a block buffer in L1 that is then copied to dst with
// streaming stores. The chunk of work that streamed must end with end_streamed_stores()
// (core/cpu/cpu_loop.hpp; for_each_row does it for every chunk).
//
// Copies and casts use it (f32 -> bf16 at 64M elements: 1.2x on one thread). Element-wise ops and
// the row kernels do not: measured on Zen 4, streaming left add and layer_norm within noise and
// made gelu (even storing straight from registers) and softmax 12-20% slower; their stores overlap
// the arithmetic, and the streamed lines' drain to memory stalls it.
//
// Include only from files compiled per ISA (strata_add_isa_kernels).
#pragma once

#ifndef STRATA_ISA
#error "core/cpu/stream_store.hpp is for kernel files compiled per ISA (strata_add_isa_kernels)"
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/cpu/cpu_loop.hpp"
#include "core/cpu/isa.hpp"

namespace strata::cpu::STRATA_ISA {

// Whether a kernel writing `bytes` of output should stream the contiguous runs of it.
inline bool stream_output(int64_t bytes) { return bytes >= stream_min_bytes(); }

inline constexpr int64_t kCacheLine = 64;

// dst[i] = src[i] for i < n: the cache lines wholly inside dst with streaming stores, the partial
// lines at either end with plain ones.
template <class T>
void stream_copy(T* dst, const T* src, int64_t n) {
  char* d = reinterpret_cast<char*>(dst);
  const char* s = reinterpret_cast<const char*>(src);
  const int64_t bytes = n * static_cast<int64_t>(sizeof(T));
#if defined(__AVX2__)
  const int64_t head =
      std::min(bytes, static_cast<int64_t>(-reinterpret_cast<uintptr_t>(d) & (kCacheLine - 1)));
  std::memcpy(d, s, head);
  int64_t i = head;
  for (; i + kCacheLine <= bytes; i += kCacheLine) {
#if defined(__AVX512F__)
    _mm512_stream_si512(reinterpret_cast<__m512i*>(d + i), _mm512_loadu_si512(s + i));
#else
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(d + i + 32),
                        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 32)));
#endif
  }
  std::memcpy(d + i, s + i, bytes - i);
#else
  std::memcpy(d, s, bytes);
#endif
}

// Bytes per block of a streamed run: small enough to stay in L1 beside the kernel's inputs.
inline constexpr int64_t kStreamBlockBytes = 2048;

template <class T, class Fill>
void write_contiguous(T* dst, int64_t n, bool stream, Fill&& fill) {
  if (!stream) {
    fill(dst, int64_t{0}, n);
    return;
  }
  constexpr int64_t kBlockValues = kStreamBlockBytes / sizeof(T);
  alignas(kCacheLine) unsigned char storage[kStreamBlockBytes];
  T* block = reinterpret_cast<T*>(storage);
  // The first block ends on a cache line of dst, so that every later one fills whole lines.
  const int64_t misaligned =
      (-reinterpret_cast<uintptr_t>(dst) & (kCacheLine - 1)) / static_cast<int64_t>(sizeof(T));
  for (int64_t start = 0, count; start < n; start += count) {
    count = std::min(n - start, start == 0 && misaligned > 0 ? misaligned : kBlockValues);
    fill(block, start, count);
    stream_copy(dst + start, block, count);
  }
}

}  // namespace strata::cpu::STRATA_ISA
