// LAMB as DeepSpeed's FusedLamb (optim/lamb.hpp) on the CPU, in two passes over the range:
//   1. update m and v, and sum ||p||^2 and ||u||^2 per parameter (segment) of the range;
//   2. recompute u from the new m and v and apply p -= step_size ratio u with each segment's ratio.
// The sums are deterministic: each segment is cut into blocks of kNormBlock elements counted from
// the segment's start, each block sums into 16 lanes in a fixed order, and the block sums of a
// segment are added in order. Neither the thread count, the ISA nor where the segment lies in a
// flat buffer changes a bit of the result.
#include <cmath>
#include <vector>

#include "optim/cpu/update_loop.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

constexpr int64_t kNormBlock = 4096;
constexpr int kLanes = 16;

struct Block {
  int64_t segment, begin, end;
};

// Sums lanes[0..16) in order.
template <class C>
C lane_total(const C* lanes) {
  C total = 0;
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

}  // namespace

void lamb_kernel(const optim::UpdateRange& range, const optim::LambStep& step) {
  std::vector<Block> blocks;
  const std::vector<int64_t>& segments = range.segments;
  for (size_t s = 0; s + 1 < segments.size(); ++s)
    for (int64_t b = segments[s]; b < segments[s + 1]; b += kNormBlock)
      blocks.push_back({static_cast<int64_t>(s), b, std::min(b + kNormBlock, segments[s + 1])});
  const int64_t num_blocks = static_cast<int64_t>(blocks.size());
  const int64_t block_grain = kUpdateGrain / kNormBlock;

  dispatch_range(range, "LAMB", [&](auto ptrs) {
    using C = std::remove_pointer_t<decltype(ptrs.values(0))>;
    const C beta1 = static_cast<C>(step.beta1), beta2 = static_cast<C>(step.beta2);
    const C one_minus_beta1 = static_cast<C>(1.0 - step.beta1);
    const C one_minus_beta2 = static_cast<C>(1.0 - step.beta2);
    const C eps = static_cast<C>(step.eps), weight_decay = static_cast<C>(step.weight_decay);
    C* exp_avg = state_data<C>(range, 0);
    C* exp_avg_sq = state_data<C>(range, 1);

    // Pass 1: moments, and the squared norms of p and u per block.
    std::vector<C> p_sq(num_blocks), u_sq(num_blocks);
    parallel_for(0, num_blocks, block_grain, [&](int64_t first, int64_t last) {
      alignas(64) C buffer[kUpdateChunk];
      for (int64_t b = first; b < last; ++b) {
        C p_lanes[kLanes] = {}, u_lanes[kLanes] = {};
        for (int64_t i = blocks[b].begin; i < blocks[b].end; i += kUpdateChunk) {
          int64_t n = std::min(kUpdateChunk, blocks[b].end - i);
          const C* p = ptrs.values(i);
          const C* g = ptrs.gradient(i, n, buffer);
          C* m = exp_avg + i;
          C* v = exp_avg_sq + i;
          // Element k adds into lane k % 16: chunks start at multiples of 16 from the block start.
          for (int64_t j = 0; j < n; j += kLanes) {
            const int lanes = static_cast<int>(std::min<int64_t>(kLanes, n - j));
            _Pragma("omp simd") for (int lane = 0; lane < lanes; ++lane) {
              const int64_t k = j + lane;
              C mk = beta1 * m[k] + one_minus_beta1 * g[k];
              C vk = beta2 * v[k] + one_minus_beta2 * g[k] * g[k];
              m[k] = mk;
              v[k] = vk;
              C u = mk / (std::sqrt(vk) + eps) + weight_decay * p[k];
              p_lanes[lane] += p[k] * p[k];
              u_lanes[lane] += u * u;
            }
          }
        }
        p_sq[b] = lane_total(p_lanes);
        u_sq[b] = lane_total(u_lanes);
      }
    });

    // The trust ratio of each segment, from its blocks' sums in order.
    std::vector<C> coefficient(segments.empty() ? 0 : segments.size() - 1);
    std::vector<C> p_total(coefficient.size(), C(0)), u_total(coefficient.size(), C(0));
    for (int64_t b = 0; b < num_blocks; ++b) {
      p_total[blocks[b].segment] += p_sq[b];
      u_total[blocks[b].segment] += u_sq[b];
    }
    for (size_t s = 0; s < coefficient.size(); ++s) {
      C p_norm = std::sqrt(p_total[s]), u_norm = std::sqrt(u_total[s]);
      C ratio = 1;
      if (p_norm != 0 && u_norm != 0) {
        ratio = p_norm / u_norm;
        ratio = std::min(ratio, static_cast<C>(step.max_coeff));
        ratio = std::max(ratio, static_cast<C>(step.min_coeff));
      }
      coefficient[s] = static_cast<C>(step.step_size) * ratio;
    }

    // Pass 2: the update, recomputed from the new moments.
    parallel_for(0, num_blocks, block_grain, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const C scale = coefficient[blocks[b].segment];
        for (int64_t i = blocks[b].begin; i < blocks[b].end; i += kUpdateChunk) {
          int64_t n = std::min(kUpdateChunk, blocks[b].end - i);
          C* p = ptrs.values(i);
          const C* m = exp_avg + i;
          const C* v = exp_avg_sq + i;
          _Pragma("omp simd") for (int64_t k = 0; k < n; ++k) {
            C u = m[k] / (std::sqrt(v[k]) + eps) + weight_decay * p[k];
            p[k] = p[k] - scale * u;
          }
          ptrs.store(i, n);
        }
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
