// The optimizer updates on CUDA (optim/update_kernels.hpp): SGD, Adam/AdamW, Adagrad and LAMB over
// one contiguous range, a whole flat group in one launch (the multi-tensor path). f16/bf16
// parameters are updated through their f32 master copy and rounded back (RNE) in the same pass.
//
// Every element is computed by the same expression, in the same order, as the CPU kernels
// (optim/cpu/*), and this file is compiled without FMA contraction (optim/CMakeLists.txt), as the
// CPU kernels are: the element-wise updates equal the CPU's bit for bit. LAMB's norms follow the
// CPU's summation order too (blocks of kNormBlock elements from each segment's start, 16 lanes per
// block, lanes and then blocks added in order), so they are deterministic and equal as well.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/cuda/cuda_check.hpp"
#include "core/factories.hpp"
#include "core/half.hpp"
#include "optim/update_kernels.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride loops beyond this

// Blocks for a grid-stride loop over n elements.
unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

// The values of a range with parameter type T in compute type C: the parameter itself, or the f32
// master copy of a 16-bit parameter (rounded into the parameter on store).
template <class T, class C>
struct Values {
  T* param;
  const T* grad;
  C* master;

  __device__ C value(int64_t i) const {
    if constexpr (std::is_same_v<T, C>)
      return param[i];
    else
      return master[i];
  }
  __device__ C gradient(int64_t i) const { return static_cast<C>(grad[i]); }
  __device__ void store(int64_t i, C v) const {
    if constexpr (std::is_same_v<T, C>) {
      param[i] = v;
    } else {
      master[i] = v;
      param[i] = T(v);
    }
  }
};

// Calls fn(Values<T, C>) for the range's dtype.
template <class Fn>
void dispatch_range(const optim::UpdateRange& range, const char* op, Fn&& fn) {
  auto values = [&](auto* param_type, auto* compute_type) {
    using T = std::remove_pointer_t<decltype(param_type)>;
    using C = std::remove_pointer_t<decltype(compute_type)>;
    return Values<T, C>{
        static_cast<T*>(range.param.data_ptr()), static_cast<const T*>(range.grad.data_ptr()),
        range.master.defined() ? static_cast<C*>(range.master.data_ptr()) : nullptr};
  };
  switch (range.param.dtype()) {
    case DType::f32: return fn(values((float*)nullptr, (float*)nullptr));
    case DType::f64: return fn(values((double*)nullptr, (double*)nullptr));
    case DType::f16: return fn(values((Half*)nullptr, (float*)nullptr));
    case DType::bf16: return fn(values((BFloat16*)nullptr, (float*)nullptr));
    default: fail(op, ": no kernel for parameters of dtype ", dtype_name(range.param.dtype()));
  }
}

// The compute type of a Values.
template <class V>
struct compute_of;
template <class T, class C>
struct compute_of<Values<T, C>> {
  using type = C;
};
template <class V>
using compute_t_of = typename compute_of<V>::type;

template <class C>
C* state_data(const optim::UpdateRange& range, size_t k) {
  return static_cast<C*>(range.states[k].data_ptr());
}

#define STRATA_GRID_STRIDE(i, n)                                                         \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// ---- SGD ----------------------------------------------------------------------------------------

template <bool kMomentum, class V, class C>
__global__ void sgd_update(V r, C* buf, int64_t n, C lr, C weight_decay, C momentum, C undamped,
                           bool first, bool nesterov) {
  STRATA_GRID_STRIDE(i, n) {
    const C p = r.value(i);
    C d = r.gradient(i) + weight_decay * p;
    if constexpr (kMomentum) {
      C b = first ? d : momentum * buf[i] + undamped * d;
      buf[i] = b;
      d = nesterov ? d + momentum * b : b;
    }
    r.store(i, p - lr * d);
  }
}

// ---- Adam and AdamW -----------------------------------------------------------------------------

template <bool kAmsgrad, class V, class C>
__global__ void adam_update(V r, C* exp_avg, C* exp_avg_sq, C* max_exp_avg_sq, int64_t n, C beta1,
                            C beta2, C one_minus_beta1, C one_minus_beta2, C eps, C step_size,
                            C bias_correction2_sqrt, C grad_decay, C shrink) {
  STRATA_GRID_STRIDE(i, n) {
    const C p = r.value(i);
    C d = r.gradient(i) + grad_decay * p;
    C param = p * shrink;
    C m = beta1 * exp_avg[i] + one_minus_beta1 * d;
    C v = beta2 * exp_avg_sq[i] + one_minus_beta2 * d * d;
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    if constexpr (kAmsgrad) {
      const C previous = max_exp_avg_sq[i];
      v = previous < v ? v : previous;  // std::max(previous, v), as the CPU kernel
      max_exp_avg_sq[i] = v;
    }
    C denom = sqrt(v) / bias_correction2_sqrt + eps;
    r.store(i, param - step_size * (m / denom));
  }
}

// ---- Adagrad ------------------------------------------------------------------------------------

template <class V, class C>
__global__ void adagrad_update(V r, C* sum, int64_t n, C clr, C weight_decay, C eps) {
  STRATA_GRID_STRIDE(i, n) {
    const C p = r.value(i);
    C d = r.gradient(i) + weight_decay * p;
    C s = sum[i] + d * d;
    sum[i] = s;
    r.store(i, p - clr * (d / (sqrt(s) + eps)));
  }
}

// ---- LAMB ---------------------------------------------------------------------------------------

constexpr int64_t kNormBlock = 4096;  // as optim/cpu/lamb_kernels.cpp
constexpr int kLanes = 16;

// The norm blocks of a range on the device, as int64: (segment, begin, end) per block, then per
// segment the index of its first block (and the block count at the end). Cached by segment layout:
// a group's layout is the same every step, so the table is uploaded once, not every step.
struct NormBlocks {
  Tensor table;
  int64_t num_blocks, num_segments;
};

NormBlocks norm_blocks(const optim::UpdateRange& range) {
  static std::mutex mutex;
  static auto* cache = new std::map<std::pair<int, std::vector<int64_t>>, NormBlocks>();
  const std::vector<int64_t>& segments = range.segments;
  std::pair<int, std::vector<int64_t>> key{range.param.device().index, segments};
  std::lock_guard lock(mutex);
  auto found = cache->find(key);
  if (found != cache->end()) return found->second;
  std::vector<int64_t> blocks, first_block;
  const int64_t num_segments = segments.empty() ? 0 : static_cast<int64_t>(segments.size()) - 1;
  for (int64_t s = 0; s < num_segments; ++s) {
    first_block.push_back(static_cast<int64_t>(blocks.size() / 3));
    for (int64_t b = segments[s]; b < segments[s + 1]; b += kNormBlock)
      blocks.insert(blocks.end(), {s, b, std::min(b + kNormBlock, segments[s + 1])});
  }
  const int64_t num_blocks = static_cast<int64_t>(blocks.size() / 3);
  first_block.push_back(num_blocks);
  blocks.insert(blocks.end(), first_block.begin(), first_block.end());
  if (cache->size() >= 64) cache->clear();
  NormBlocks result{from_vector(blocks).to(range.param.device()), num_blocks, num_segments};
  cache->emplace(std::move(key), result);
  return result;
}

// Pass 1: thread (block b, lane l) updates m and v of the elements begin + l, begin + l + 16, ...
// of norm block b and sums p^2 and u^2 over them; lane 0 then adds the 16 lane sums in order into
// the block's sums. 16 lanes of a block are 16 consecutive threads of one warp.
template <class V, class C>
__global__ void lamb_moments(V r, C* exp_avg, C* exp_avg_sq, const int64_t* blocks,
                             int64_t num_blocks, C beta1, C beta2, C one_minus_beta1,
                             C one_minus_beta2, C eps, C weight_decay, C* block_p_sq,
                             C* block_u_sq) {
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t b = thread / kLanes;
  const int lane = static_cast<int>(thread % kLanes);
  C p_lane = 0, u_lane = 0;
  if (b < num_blocks) {
    const int64_t begin = blocks[3 * b + 1], end = blocks[3 * b + 2];
    for (int64_t i = begin + lane; i < end; i += kLanes) {
      const C p = r.value(i), g = r.gradient(i);
      C m = beta1 * exp_avg[i] + one_minus_beta1 * g;
      C v = beta2 * exp_avg_sq[i] + one_minus_beta2 * g * g;
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      C u = m / (sqrt(v) + eps) + weight_decay * p;
      p_lane += p * p;
      u_lane += u * u;
    }
  }
  // Every thread of the warp takes part in the shuffles (threads past the last block add zeros).
  const int first_lane = static_cast<int>(threadIdx.x % 32) / kLanes * kLanes;
  C p_total = 0, u_total = 0;
  for (int l = 0; l < kLanes; ++l) {
    p_total += __shfl_sync(0xffffffffu, p_lane, first_lane + l);
    u_total += __shfl_sync(0xffffffffu, u_lane, first_lane + l);
  }
  if (b < num_blocks && lane == 0) {
    block_p_sq[b] = p_total;
    block_u_sq[b] = u_total;
  }
}

// Per segment: its blocks' sums in order, the trust ratio, and step_size * ratio.
template <class C>
__global__ void lamb_coefficients(const int64_t* first_block, int64_t num_segments,
                                  const C* block_p_sq, const C* block_u_sq, C step_size,
                                  C max_coeff, C min_coeff, C* coefficient) {
  STRATA_GRID_STRIDE(s, num_segments) {
    C p_total = 0, u_total = 0;
    for (int64_t b = first_block[s]; b < first_block[s + 1]; ++b) {
      p_total += block_p_sq[b];
      u_total += block_u_sq[b];
    }
    const C p_norm = sqrt(p_total), u_norm = sqrt(u_total);
    C ratio = 1;
    if (p_norm != 0 && u_norm != 0) {
      ratio = p_norm / u_norm;
      ratio = max_coeff < ratio ? max_coeff : ratio;  // std::min(ratio, max_coeff)
      ratio = ratio < min_coeff ? min_coeff : ratio;  // std::max(ratio, min_coeff)
    }
    coefficient[s] = step_size * ratio;
  }
}

// Pass 2: one CUDA block per norm block; u recomputed from the new moments.
template <class V, class C>
__global__ void lamb_apply(V r, const C* exp_avg, const C* exp_avg_sq, const int64_t* blocks,
                           const C* coefficient, C eps, C weight_decay) {
  const int64_t b = blockIdx.x;
  const C scale = coefficient[blocks[3 * b]];
  const int64_t begin = blocks[3 * b + 1], end = blocks[3 * b + 2];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const C p = r.value(i);
    C u = exp_avg[i] / (sqrt(exp_avg_sq[i]) + eps) + weight_decay * p;
    r.store(i, p - scale * u);
  }
}

}  // namespace

void sgd_kernel(const optim::UpdateRange& range, const optim::SgdStep& step) {
  const int64_t n = range.param.numel();
  if (n == 0) return;
  dispatch_range(range, "SGD", [&](auto r) {
    using C = compute_t_of<decltype(r)>;
    auto launch = [&](auto kernel, C* buf) {
      kernel<<<grid_for(n), kThreads, 0, current_stream()>>>(
          r, buf, n, static_cast<C>(step.lr), static_cast<C>(step.weight_decay),
          static_cast<C>(step.momentum), static_cast<C>(1.0 - step.dampening), step.first,
          step.nesterov);
    };
    if (step.momentum != 0)
      launch(sgd_update<true, decltype(r), C>, state_data<C>(range, 0));
    else
      launch(sgd_update<false, decltype(r), C>, nullptr);
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void adam_kernel(const optim::UpdateRange& range, const optim::AdamStep& step) {
  const int64_t n = range.param.numel();
  if (n == 0) return;
  dispatch_range(range, "Adam", [&](auto r) {
    using C = compute_t_of<decltype(r)>;
    // Adam adds the decay to the gradient; AdamW shrinks the parameter before the update.
    const C grad_decay = step.decoupled ? C(0) : static_cast<C>(step.weight_decay);
    const C shrink = static_cast<C>(step.decoupled ? 1.0 - step.lr * step.weight_decay : 1.0);
    auto launch = [&](auto kernel, C* max_exp_avg_sq) {
      kernel<<<grid_for(n), kThreads, 0, current_stream()>>>(
          r, state_data<C>(range, 0), state_data<C>(range, 1), max_exp_avg_sq, n,
          static_cast<C>(step.beta1), static_cast<C>(step.beta2), static_cast<C>(1.0 - step.beta1),
          static_cast<C>(1.0 - step.beta2), static_cast<C>(step.eps),
          static_cast<C>(step.step_size), static_cast<C>(step.bias_correction2_sqrt), grad_decay,
          shrink);
    };
    if (step.amsgrad)
      launch(adam_update<true, decltype(r), C>, state_data<C>(range, 2));
    else
      launch(adam_update<false, decltype(r), C>, nullptr);
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void adagrad_kernel(const optim::UpdateRange& range, const optim::AdagradStep& step) {
  const int64_t n = range.param.numel();
  if (n == 0) return;
  dispatch_range(range, "Adagrad", [&](auto r) {
    using C = compute_t_of<decltype(r)>;
    adagrad_update<<<grid_for(n), kThreads, 0, current_stream()>>>(
        r, state_data<C>(range, 0), n, static_cast<C>(step.clr), static_cast<C>(step.weight_decay),
        static_cast<C>(step.eps));
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void lamb_kernel(const optim::UpdateRange& range, const optim::LambStep& step) {
  const NormBlocks norm = norm_blocks(range);
  if (norm.num_segments == 0) return;
  const int64_t* blocks = static_cast<const int64_t*>(norm.table.data_ptr());
  const int64_t* first_block = blocks + 3 * norm.num_blocks;
  dispatch_range(range, "LAMB", [&](auto r) {
    using C = compute_t_of<decltype(r)>;
    const DType sums_dtype = std::is_same_v<C, double> ? DType::f64 : DType::f32;
    const TensorOptions options{sums_dtype, range.param.device()};
    // [p^2 sums of the blocks | u^2 sums of the blocks | the segments' coefficients]
    Tensor scratch = empty({2 * norm.num_blocks + norm.num_segments}, options);
    C* block_p_sq = static_cast<C*>(scratch.data_ptr());
    C* block_u_sq = block_p_sq + norm.num_blocks;
    C* coefficient = block_u_sq + norm.num_blocks;
    const C eps = static_cast<C>(step.eps), weight_decay = static_cast<C>(step.weight_decay);
    C* exp_avg = state_data<C>(range, 0);
    C* exp_avg_sq = state_data<C>(range, 1);
    if (norm.num_blocks > 0) {
      const int64_t threads = norm.num_blocks * kLanes;
      const auto grid = static_cast<unsigned>((threads + kThreads - 1) / kThreads);
      lamb_moments<<<grid, kThreads, 0, current_stream()>>>(
          r, exp_avg, exp_avg_sq, blocks, norm.num_blocks, static_cast<C>(step.beta1),
          static_cast<C>(step.beta2), static_cast<C>(1.0 - step.beta1),
          static_cast<C>(1.0 - step.beta2), eps, weight_decay, block_p_sq, block_u_sq);
      STRATA_CUDA_CHECK(cudaGetLastError());
    }
    lamb_coefficients<<<grid_for(norm.num_segments), kThreads, 0, current_stream()>>>(
        first_block, norm.num_segments, block_p_sq, block_u_sq, static_cast<C>(step.step_size),
        static_cast<C>(step.max_coeff), static_cast<C>(step.min_coeff), coefficient);
    STRATA_CUDA_CHECK(cudaGetLastError());
    if (norm.num_blocks > 0) {
      lamb_apply<<<static_cast<unsigned>(norm.num_blocks), kThreads, 0, current_stream()>>>(
          r, exp_avg, exp_avg_sq, blocks, coefficient, eps, weight_decay);
      STRATA_CUDA_CHECK(cudaGetLastError());
    }
  });
}

}  // namespace strata::cuda
