// CUDA kernel of count_nonfinite: tests the exponent bits of every element (nonfinite_kernels.hpp)
// in a grid-stride loop. A contiguous tensor whose data is 16-byte aligned is read 16 bytes per
// thread and load (8 f16/bf16, 4 f32 or 2 f64 elements), the rest of its elements one by one; any
// other layout walks its StridedLoop. Each warp sums its threads' counts by shuffles and adds them
// to the counter with one atomic, and only when it found something: a clean pass writes nothing.
// Integer addition is exact, so the count does not depend on the order of the atomics.
#include <algorithm>
#include <cstdint>

#include "core/cuda/cuda_check.hpp"
#include "core/dtype.hpp"
#include "core/nonfinite_kernels.hpp"
#include "core/strided_loop.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks =
    2048;  // enough to fill an H100 (132 SMs x 2048 threads) several times

template <class Bits>
__device__ inline unsigned nonfinite(Bits value, Bits mask) {
  return (value & mask) == mask ? 1u : 0u;
}

// Adds this thread's count to *count once per warp. Every thread of the block calls it (the
// grid-stride loops end at the same point for all of them).
__device__ inline void add_warp_count(unsigned long long mine, unsigned long long* count) {
  for (int offset = 16; offset > 0; offset /= 2)
    mine += __shfl_down_sync(0xffffffffu, mine, offset);
  if ((threadIdx.x & 31) == 0 && mine != 0) atomicAdd(count, mine);
}

// Contiguous and 16-byte aligned: `vectors` 16-byte words, then `tail` elements after them.
template <class Bits>
__global__ void count_vectorised_kernel(const uint4* words, int64_t vectors, const Bits* tail,
                                        int64_t tail_count, Bits mask, unsigned long long* count) {
  constexpr int kLanes = sizeof(uint4) / sizeof(Bits);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  unsigned long long mine = 0;
  for (int64_t v = first; v < vectors; v += step) {
    union {
      uint4 word;
      Bits lanes[kLanes];
    } loaded;
    loaded.word = words[v];
#pragma unroll
    for (int lane = 0; lane < kLanes; ++lane) mine += nonfinite(loaded.lanes[lane], mask);
  }
  if (first < tail_count) mine += nonfinite(tail[first], mask);  // tail_count < kLanes <= step
  add_warp_count(mine, count);
}

// Any layout: element `linear` of the loop, by its multi-index when the loop has several dims.
template <class Bits>
__global__ void count_strided_kernel(StridedLoop<1> loop, const char* base, Bits mask,
                                     unsigned long long* count) {
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  unsigned long long mine = 0;
  for (int64_t linear = first; linear < loop.numel; linear += step) {
    int64_t offset = 0;
    int64_t rest = linear;
    for (int d = 0; d < loop.ndim; ++d) {
      offset += (rest % loop.shape[d]) * loop.strides[0][d];
      rest /= loop.shape[d];
    }
    mine += nonfinite(*reinterpret_cast<const Bits*>(base + offset), mask);
  }
  add_warp_count(mine, count);
}

unsigned blocks_for(int64_t items) {
  return static_cast<unsigned>(
      std::clamp<int64_t>((items + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

}  // namespace

void count_nonfinite_kernel(const Tensor& count, const Tensor& x) {
  static_assert(sizeof(unsigned long long) == sizeof(int64_t));
  // The count never exceeds numel < 2^63, so the unsigned sum reads back as the same i64.
  auto* counter = reinterpret_cast<unsigned long long*>(count.data<int64_t>());
  const char* base = static_cast<const char*>(x.data_ptr());
  STRATA_DISPATCH_FLOATING(x.dtype(), "count_nonfinite", [&] {
    using bits_t = typename ExponentField<scalar_t>::bits_t;
    constexpr bits_t mask = ExponentField<scalar_t>::mask;
    constexpr int64_t lanes = sizeof(uint4) / sizeof(bits_t);
    if (x.is_contiguous() && reinterpret_cast<uintptr_t>(base) % sizeof(uint4) == 0) {
      const int64_t vectors = x.numel() / lanes;
      const auto* tail = reinterpret_cast<const bits_t*>(base) + vectors * lanes;
      count_vectorised_kernel<bits_t>
          <<<blocks_for(std::max<int64_t>(vectors, 1)), kThreads, 0, current_stream()>>>(
              reinterpret_cast<const uint4*>(base), vectors, tail, x.numel() - vectors * lanes,
              mask, counter);
    } else {
      StridedLoop<1> loop = make_strided_loop<1>({&x});
      count_strided_kernel<bits_t>
          <<<blocks_for(loop.numel), kThreads, 0, current_stream()>>>(loop, base, mask, counter);
    }
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace strata::cuda
