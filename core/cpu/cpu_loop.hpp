// Runs an inner loop over every row of a StridedLoop on the CPU, split across the thread pool.
// inner(char* ptrs[N], const int64_t strides[N], int64_t count) handles `count` elements starting
// at ptrs, stepping by strides (bytes); it sees the innermost dim, so contiguous rows run at full
// speed. Each chunk of rows ends with end_streamed_stores().
#pragma once

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/parallel.hpp"
#include "core/strided_loop.hpp"

namespace strata::cpu {

inline constexpr int64_t kElementwiseGrain = 32768;

// Ends a parallel chunk that may have written with streaming stores (core/cpu/stream_store.hpp):
// those are weakly ordered, and must have reached memory before the pool's barrier hands the
// results to other threads. Costs next to nothing when there are none.
inline void end_streamed_stores() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
}

template <int N, class Inner>
void for_each_row(const StridedLoop<N>& loop, const std::array<char*, N>& base, Inner&& inner,
                  int64_t grain = kElementwiseGrain) {
  parallel_for(0, loop.numel, grain, [&](int64_t begin, int64_t end) {
    // Position of element `begin` as a multi-index, innermost first.
    int64_t index[kMaxLoopDims];
    std::array<char*, N> ptrs = base;
    int64_t rest = begin;
    for (int d = 0; d < loop.ndim; ++d) {
      index[d] = rest % loop.shape[d];
      rest /= loop.shape[d];
      for (int i = 0; i < N; ++i) ptrs[i] += index[d] * loop.strides[i][d];
    }
    int64_t inner_strides[N];
    for (int i = 0; i < N; ++i) inner_strides[i] = loop.strides[i][0];
    int64_t remaining = end - begin;
    while (remaining > 0) {
      int64_t count = std::min(remaining, loop.shape[0] - index[0]);
      inner(ptrs.data(), inner_strides, count);
      remaining -= count;
      for (int i = 0; i < N; ++i) ptrs[i] += count * loop.strides[i][0];
      index[0] += count;
      // Carry into outer dims.
      for (int d = 0; d + 1 < loop.ndim && index[d] == loop.shape[d]; ++d) {
        for (int i = 0; i < N; ++i) ptrs[i] -= loop.shape[d] * loop.strides[i][d];
        index[d] = 0;
        ++index[d + 1];
        for (int i = 0; i < N; ++i) ptrs[i] += loop.strides[i][d + 1];
      }
    }
    end_streamed_stores();
  });
}

}  // namespace strata::cpu
