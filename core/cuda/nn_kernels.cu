// CUDA kernels for softmax and log-softmax (any dim), layer and RMS norm (also fused after a
// residual add) and softmax cross-entropy (also as the fused classifier, which writes the logit
// gradient over the logits), forward and backward. Semantics, special values included, are those
// of the CPU kernels (core/cpu/nn_kernels.cpp); core/nn_kernels.hpp documents them.
//
// Every row goes to a group of threads: a warp for rows of up to kWarpRowLength elements
// (kWarpsPerBlock rows per block), the whole block for longer rows. Groups stride over the rows,
// so any row count fits the grid. A row is read (and written) with 16-byte vector accesses when
// every row it is combined with is contiguous and 16-byte aligned, element by element otherwise.
// Row statistics accumulate in f32 (f64 for f64 tensors) and combine across the group in a fixed
// tree; the norms' weight and bias gradients sum fixed chunks of rows into partials that a second
// kernel adds in chunk order. So every result is deterministic, with no atomics.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/cuda/cuda_check.hpp"
#include "core/cuda/device_error.hpp"
#include "core/dtype.hpp"
#include "core/factories.hpp"
#include "core/nn_kernels.hpp"
#include "core/row_layout.hpp"

namespace strata::cuda {
namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int64_t kWarpRowLength = 1024;          // longer rows take a block each
constexpr int kWarpsPerBlock = 8;                 // rows per block of a warp-per-row launch
constexpr int kBlockThreads = 512;                // threads of a block-per-row launch
constexpr int64_t kMaxBlocks = int64_t{1} << 20;  // beyond, groups stride over the rows

// The block size of a row kernel, for __launch_bounds__: it keeps register use launchable.
constexpr int row_block_threads(bool block) {
  return block ? kBlockThreads : kWarpsPerBlock * kWarp;
}

// ---- accumulator math -----------------------------------------------------------------------

__device__ inline float exp_acc(float x) { return expf(x); }
__device__ inline double exp_acc(double x) { return exp(x); }
__device__ inline float log_acc(float x) { return logf(x); }
__device__ inline double log_acc(double x) { return log(x); }
__device__ inline float sqrt_acc(float x) { return sqrtf(x); }
__device__ inline double sqrt_acc(double x) { return sqrt(x); }

// The running max of a row and the sum of e^(x - max) over it (online softmax): one pass gives
// both. NaN elements never become the max (as the CPU's max skips them) but turn the sum NaN;
// -inf elements add nothing, so a row of -inf keeps {-inf, 0} and its outputs come out NaN, as
// on the CPU.
template <class A>
struct MaxSum {
  A max, sum;
};

template <class A>
__device__ inline MaxSum<A> add_element(MaxSum<A> s, A x) {
  const A max = x > s.max ? x : s.max;
  const A rescaled = s.max == max ? s.sum : s.sum * exp_acc(s.max - max);
  return {max, rescaled + (x == A(-INFINITY) ? A(0) : exp_acc(x - max))};
}

struct MergeMaxSum {
  template <class A>
  __device__ MaxSum<A> operator()(MaxSum<A> a, MaxSum<A> b) const {
    const A max = b.max > a.max ? b.max : a.max;
    const A sa = a.max == max ? a.sum : a.sum * exp_acc(a.max - max);
    const A sb = b.max == max ? b.sum : b.sum * exp_acc(b.max - max);
    return {max, sa + sb};
  }
};

template <class A>
struct SumPair {
  A first, second;
};

struct Plus {
  template <class V>
  __device__ V operator()(V a, V b) const {
    return a + b;
  }
  template <class A>
  __device__ SumPair<A> operator()(SumPair<A> a, SumPair<A> b) const {
    return {a.first + b.first, a.second + b.second};
  }
};

__device__ inline float shuffle_xor(float v, int mask) {
  return __shfl_xor_sync(kFullMask, v, mask);
}
__device__ inline double shuffle_xor(double v, int mask) {
  return __shfl_xor_sync(kFullMask, v, mask);
}
__device__ inline long long shuffle_xor(long long v, int mask) {
  return __shfl_xor_sync(kFullMask, v, mask);
}
template <class A>
__device__ inline MaxSum<A> shuffle_xor(MaxSum<A> v, int mask) {
  return {shuffle_xor(v.max, mask), shuffle_xor(v.sum, mask)};
}
template <class A>
__device__ inline SumPair<A> shuffle_xor(SumPair<A> v, int mask) {
  return {shuffle_xor(v.first, mask), shuffle_xor(v.second, mask)};
}

// ---- thread groups --------------------------------------------------------------------------

// The threads that share a row: a warp, or the whole block when kBlock. Row loops are uniform
// across a group, so its reductions and barriers are always reached by every member.
template <bool kBlock>
struct Group {
  __device__ static int rank() { return kBlock ? threadIdx.x : threadIdx.x % kWarp; }
  __device__ static int size() { return kBlock ? blockDim.x : kWarp; }
  __device__ static int64_t first_row() {
    return kBlock ? blockIdx.x
                  : static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  }
  __device__ static int64_t row_stride() {
    return kBlock ? gridDim.x : static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  }
  // Orders the group's memory accesses before the barrier before those after it.
  __device__ static void sync() {
    if constexpr (kBlock) {
      __syncthreads();
    } else {
      __syncwarp();
    }
  }
};

// Combines every member's v by op; every member gets the result. A butterfly over the warp, then
// (block groups) the warps' results in warp order: a fixed tree, so the result is deterministic.
// blockDim.x is a multiple of 32.
template <bool kBlock, class V, class Op>
__device__ V group_reduce(V v, Op op) {
  for (int mask = kWarp / 2; mask > 0; mask /= 2) v = op(v, shuffle_xor(v, mask));
  if constexpr (kBlock) {
    __shared__ V warp_results[kWarp];
    const int warps = blockDim.x / kWarp;
    if (threadIdx.x % kWarp == 0) warp_results[threadIdx.x / kWarp] = v;
    __syncthreads();
    v = warp_results[0];
    for (int w = 1; w < warps; ++w) v = op(v, warp_results[w]);
    __syncthreads();  // warp_results is reused by the next reduction
  }
  return v;
}

// ---- row access -----------------------------------------------------------------------------

// 16 bytes of T: one vector load or store.
template <class T>
struct alignas(16) Pack {
  static constexpr int kSize = 16 / sizeof(T);
  T v[kSize];
};

template <class T>
struct RowIn {
  const T* data;
  int64_t step;  // elements between neighbours
};
template <class T>
struct RowOut {
  T* data;
  int64_t step;
};

template <class T>
__device__ inline bool vector_ok(const T* data, int64_t step) {
  return step == 1 && reinterpret_cast<uintptr_t>(data) % 16 == 0;
}

template <class T>
__device__ inline Pack<T> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T>*>(p);
}

// Calls f(i, a...) for the elements i of an n-element row that this group member owns, a being
// element i of each row as an accumulator value. Ownership depends only on n, the member and
// whether every row allows vector access.
template <bool kBlock, class T, class F, class... Rows>
__device__ void visit_row(int64_t n, F&& f, Rows... rows) {
  using A = compute_t<T>;
  constexpr int V = Pack<T>::kSize;
  const int rank = Group<kBlock>::rank(), size = Group<kBlock>::size();
  if ((vector_ok(rows.data, rows.step) && ...)) {
    const int64_t vectors = n / V;
    for (int64_t v = rank; v < vectors; v += size) {
      [&](auto... packs) {
#pragma unroll
        for (int k = 0; k < V; ++k) f(v * V + k, static_cast<A>(packs.v[k])...);
      }(load_pack(rows.data + v * V)...);
    }
    for (int64_t i = vectors * V + rank; i < n; i += size) f(i, static_cast<A>(rows.data[i])...);
  } else {
    for (int64_t i = rank; i < n; i += size) {
      f(i, static_cast<A>(rows.data[i * rows.step])...);
    }
  }
}

// out[i] = f(i, a...) for the elements i this member owns (as visit_row picks them), rounded to T.
template <bool kBlock, class T, class F, class... Rows>
__device__ void map_row(int64_t n, F&& f, RowOut<T> out, Rows... rows) {
  using A = compute_t<T>;
  constexpr int V = Pack<T>::kSize;
  const int rank = Group<kBlock>::rank(), size = Group<kBlock>::size();
  if (vector_ok(out.data, out.step) && (vector_ok(rows.data, rows.step) && ...)) {
    const int64_t vectors = n / V;
    for (int64_t v = rank; v < vectors; v += size) {
      Pack<T> result;
      [&](auto... packs) {
#pragma unroll
        for (int k = 0; k < V; ++k) result.v[k] = T(f(v * V + k, static_cast<A>(packs.v[k])...));
      }(load_pack(rows.data + v * V)...);
      *reinterpret_cast<Pack<T>*>(out.data + v * V) = result;
    }
    for (int64_t i = vectors * V + rank; i < n; i += size) {
      out.data[i] = T(f(i, static_cast<A>(rows.data[i])...));
    }
  } else {
    for (int64_t i = rank; i < n; i += size) {
      out.data[i * out.step] = T(f(i, static_cast<A>(rows.data[i * rows.step])...));
    }
  }
}

// Runs launch(kBlock, grid, threads) with a warp per row for short rows, a block per row for long
// ones; nothing for no rows.
template <class Launch>
void launch_rows(int64_t rows, int64_t length, Launch&& launch) {
  if (rows == 0) return;
  if (length <= kWarpRowLength) {
    const int64_t blocks = std::min((rows + kWarpsPerBlock - 1) / kWarpsPerBlock, kMaxBlocks);
    launch(std::false_type{}, static_cast<unsigned>(blocks), kWarpsPerBlock * kWarp);
  } else {
    launch(std::true_type{}, static_cast<unsigned>(std::min(rows, kMaxBlocks)), kBlockThreads);
  }
  STRATA_CUDA_CHECK(cudaGetLastError());
}

template <class T>
T* pointer(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.data_ptr()) : nullptr;
}

// ---- softmax --------------------------------------------------------------------------------

template <class T, bool kBlock>
__global__ void __launch_bounds__(row_block_threads(kBlock))
    softmax_rows(RowLayout in, RowLayout out, const T* x, T* y, bool log) {
  using A = compute_t<T>;
  using G = Group<kBlock>;
  const int64_t n = in.length;
  for (int64_t r = G::first_row(); r < in.count; r += G::row_stride()) {
    const RowIn<T> x_row{x + in.offset(r), in.step};
    MaxSum<A> s{A(-INFINITY), A(0)};
    visit_row<kBlock, T>(
        n, [&](int64_t, A v) { s = add_element(s, v); }, x_row);
    s = group_reduce<kBlock>(s, MergeMaxSum{});
    const RowOut<T> y_row{y + out.offset(r), out.step};
    if (log) {
      const A log_sum_exp = s.max + log_acc(s.sum);
      map_row<kBlock>(
          n, [&](int64_t, A v) { return v - log_sum_exp; }, y_row, x_row);
    } else {
      const A inverse = A(1) / s.sum;
      map_row<kBlock>(
          n, [&](int64_t, A v) { return exp_acc(v - s.max) * inverse; }, y_row, x_row);
    }
  }
}

// softmax: dx = y (g - sum(g y)); log_softmax: dx = g - e^y sum(g).
template <class T, bool kBlock>
__global__ void __launch_bounds__(row_block_threads(kBlock))
    softmax_backward_rows(RowLayout g_rows, RowLayout y_rows, RowLayout dx_rows, const T* g,
                          const T* y, T* dx, bool log) {
  using A = compute_t<T>;
  using G = Group<kBlock>;
  const int64_t n = y_rows.length;
  for (int64_t r = G::first_row(); r < y_rows.count; r += G::row_stride()) {
    const RowIn<T> g_row{g + g_rows.offset(r), g_rows.step};
    const RowIn<T> y_row{y + y_rows.offset(r), y_rows.step};
    const RowOut<T> dx_row{dx + dx_rows.offset(r), dx_rows.step};
    A total = 0;
    if (log) {
      visit_row<kBlock, T>(
          n, [&](int64_t, A gv) { total += gv; }, g_row);
    } else {
      visit_row<kBlock, T>(
          n, [&](int64_t, A gv, A yv) { total += gv * yv; }, g_row, y_row);
    }
    total = group_reduce<kBlock>(total, Plus{});
    if (log) {
      map_row<kBlock>(
          n, [&](int64_t, A gv, A yv) { return gv - exp_acc(yv) * total; }, dx_row, g_row, y_row);
    } else {
      map_row<kBlock>(
          n, [&](int64_t, A gv, A yv) { return yv * (gv - total); }, dx_row, g_row, y_row);
    }
  }
}

// ---- layer norm and RMS norm ----------------------------------------------------------------

// The optional weight and bias [C] of a norm, read element by element (they stay in cache).
template <class T>
struct Affine {
  const T* weight;
  int64_t weight_step;
  const T* bias;
  int64_t bias_step;

  __device__ compute_t<T> weight_at(int64_t i) const {
    return weight ? static_cast<compute_t<T>>(weight[i * weight_step]) : compute_t<T>(1);
  }
  __device__ compute_t<T> bias_at(int64_t i) const {
    return bias ? static_cast<compute_t<T>>(bias[i * bias_step]) : compute_t<T>(0);
  }
};

template <class T>
Affine<T> affine_of(const Tensor& weight, const Tensor& bias) {
  return {pointer<const T>(weight), weight.defined() ? weight.stride(0) : 0, pointer<const T>(bias),
          bias.defined() ? bias.stride(0) : 0};
}

// y = (x - mu) rstd w + b with mu = mean(x) (layer norm, mean non-null) or 0 (RMS norm) and
// rstd = 1 / sqrt(mean((x - mu)^2) + eps), x read again from cache for each pass. With a
// residual, x is first replaced by sum = x + residual, stored (rounded to T) and normalised as
// stored, so the result equals layer_norm(x + residual) exactly as the unfused ops compute it.
template <class T, bool kBlock>
__global__ void __launch_bounds__(row_block_threads(kBlock))
    norm_rows(RowLayout x_rows, RowLayout residual_rows, RowLayout sum_rows, RowLayout y_rows,
              const T* x, const T* residual, T* sum, T* y, Affine<T> affine, compute_t<T>* mean,
              compute_t<T>* rstd, compute_t<T> eps) {
  using A = compute_t<T>;
  using G = Group<kBlock>;
  const int64_t n = x_rows.length;
  const bool center = mean != nullptr;
  for (int64_t r = G::first_row(); r < x_rows.count; r += G::row_stride()) {
    RowIn<T> x_row{x + x_rows.offset(r), x_rows.step};
    A total = 0;
    if (residual) {
      const RowOut<T> sum_row{sum + sum_rows.offset(r), sum_rows.step};
      const RowIn<T> residual_row{residual + residual_rows.offset(r), residual_rows.step};
      map_row<kBlock>(
          n,
          [&](int64_t, A a, A b) {
            const A rounded = static_cast<A>(T(a + b));
            total += rounded;
            return rounded;
          },
          sum_row, x_row, residual_row);
      G::sync();  // the passes below may read elements of sum other members wrote
      x_row = RowIn<T>{sum_row.data, sum_row.step};
    } else if (center) {
      visit_row<kBlock, T>(
          n, [&](int64_t, A v) { total += v; }, x_row);
    }
    const A mu = center ? group_reduce<kBlock>(total, Plus{}) / static_cast<A>(n) : A(0);
    A squares = 0;
    visit_row<kBlock, T>(
        n, [&](int64_t, A v) { squares += (v - mu) * (v - mu); }, x_row);
    squares = group_reduce<kBlock>(squares, Plus{});
    const A row_rstd = A(1) / sqrt_acc(squares / static_cast<A>(n) + eps);
    map_row<kBlock>(
        n,
        [&](int64_t i, A v) {
          return (v - mu) * row_rstd * affine.weight_at(i) + affine.bias_at(i);
        },
        RowOut<T>{y + y_rows.offset(r), y_rows.step}, x_row);
    if (G::rank() == 0) {
      if (center) mean[r] = mu;
      rstd[r] = row_rstd;
    }
  }
}

// With xhat = (x - mu) rstd and gw = g w:
//   dx = rstd (gw - mean(gw) - xhat mean(gw xhat))   (RMS norm, mean null, drops mean(gw)).
template <class T, bool kBlock>
__global__ void __launch_bounds__(row_block_threads(kBlock))
    norm_backward_rows(RowLayout g_rows, RowLayout x_rows, RowLayout dx_rows, const T* g,
                       const T* x, T* dx, Affine<T> affine, const compute_t<T>* mean,
                       const compute_t<T>* rstd) {
  using A = compute_t<T>;
  using G = Group<kBlock>;
  const int64_t n = x_rows.length;
  for (int64_t r = G::first_row(); r < x_rows.count; r += G::row_stride()) {
    const RowIn<T> g_row{g + g_rows.offset(r), g_rows.step};
    const RowIn<T> x_row{x + x_rows.offset(r), x_rows.step};
    const A mu = mean ? mean[r] : A(0), row_rstd = rstd[r];
    SumPair<A> sums{0, 0};  // sum(gw), sum(gw xhat)
    visit_row<kBlock, T>(
        n,
        [&](int64_t i, A gv, A xv) {
          const A gw = gv * affine.weight_at(i);
          sums.first += gw;
          sums.second += gw * (xv - mu) * row_rstd;
        },
        g_row, x_row);
    sums = group_reduce<kBlock>(sums, Plus{});
    const A mean_gw = mean ? sums.first / static_cast<A>(n) : A(0);
    const A mean_gw_xhat = sums.second / static_cast<A>(n);
    map_row<kBlock>(
        n,
        [&](int64_t i, A gv, A xv) {
          const A xhat = (xv - mu) * row_rstd;
          return row_rstd * (gv * affine.weight_at(i) - mean_gw - xhat * mean_gw_xhat);
        },
        RowOut<T>{dx + dx_rows.offset(r), dx_rows.step}, g_row, x_row);
  }
}

// Rows per chunk of the weight/bias gradient partials: set by the shape alone (at least
// kMinChunkRows, at most kMaxChunks chunks, within the grid's y limit).
constexpr int64_t kMinChunkRows = 32, kMaxChunks = 1024;
constexpr int kColumnThreads = 256;

// partial_weight[chunk, c] = sum of g xhat and partial_bias[chunk, c] = sum of g over the chunk's
// rows, in row order; one thread per column c, blockIdx.y the chunk.
template <class T>
__global__ void norm_param_partials(RowLayout g_rows, RowLayout x_rows, const T* g, const T* x,
                                    const compute_t<T>* mean, const compute_t<T>* rstd,
                                    int64_t chunk_rows, compute_t<T>* partial_weight,
                                    compute_t<T>* partial_bias) {
  using A = compute_t<T>;
  const int64_t n = x_rows.length;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= n) return;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk_rows;
  const int64_t end = begin + chunk_rows < x_rows.count ? begin + chunk_rows : x_rows.count;
  A dw = 0, db = 0;
  for (int64_t r = begin; r < end; ++r) {
    const A gv = static_cast<A>(g[g_rows.offset(r) + c * g_rows.step]);
    const A xv = static_cast<A>(x[x_rows.offset(r) + c * x_rows.step]);
    dw += gv * ((xv - (mean ? mean[r] : A(0))) * rstd[r]);
    db += gv;
  }
  partial_weight[blockIdx.y * n + c] = dw;
  partial_bias[blockIdx.y * n + c] = db;
}

// out[c] = the sum of partial[chunk, c] over the chunks, in chunk order.
template <class T>
__global__ void sum_partials(const compute_t<T>* partial, int64_t chunks, int64_t n, T* out,
                             int64_t out_step) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= n) return;
  compute_t<T> total = 0;
  for (int64_t chunk = 0; chunk < chunks; ++chunk) total += partial[chunk * n + c];
  out[c * out_step] = T(total);
}

void launch_norm(const Tensor& sum, const Tensor& y, const Tensor& mean, const Tensor& rstd,
                 const Tensor& x, const Tensor& residual, const Tensor& weight, const Tensor& bias,
                 double eps) {
  const int64_t last = x.dim() - 1;
  const RowLayout x_rows(x, last), y_rows(y, last);
  const bool fused = residual.defined();
  const RowLayout residual_rows = fused ? RowLayout(residual, last) : x_rows;
  const RowLayout sum_rows = fused ? RowLayout(sum, last) : x_rows;
  STRATA_DISPATCH_FLOATING(x.dtype(), mean.defined() ? "layer_norm" : "rms_norm", [&] {
    using A = compute_t<scalar_t>;
    launch_rows(x_rows.count, x_rows.length, [&](auto block, unsigned grid, int threads) {
      norm_rows<scalar_t, decltype(block)::value><<<grid, threads, 0, current_stream()>>>(
          x_rows, residual_rows, sum_rows, y_rows, pointer<const scalar_t>(x),
          pointer<const scalar_t>(residual), pointer<scalar_t>(sum), pointer<scalar_t>(y),
          affine_of<scalar_t>(weight, bias), pointer<A>(mean), pointer<A>(rstd),
          static_cast<A>(eps));
    });
  });
}

// ---- cross-entropy --------------------------------------------------------------------------

// Where a target stands: a class, ignore_index (no loss, no gradient) or out of range (reported,
// then treated as ignored).
struct Target {
  int64_t value;
  bool valid, kept;
  __device__ Target(int64_t value, int64_t classes, int64_t ignore_index)
      : value(value),
        valid(value == ignore_index || (value >= 0 && value < classes)),
        kept(value != ignore_index && value >= 0 && value < classes) {}
};

// dlogits row = scale (softmax(x) - eps / C) - scale (1 - eps) onehot(target), as the CPU computes
// it, or zeros for a row that is not kept.
template <bool kBlock, class T>
__device__ void write_logit_grad(int64_t n, RowOut<T> out, RowIn<T> x_row, Target target,
                                 compute_t<T> log_sum_exp, compute_t<T> scale,
                                 compute_t<T> smoothing) {
  using A = compute_t<T>;
  if (!target.kept) {
    map_row<kBlock>(
        n, [](int64_t) { return A(0); }, out);
    return;
  }
  const A uniform = smoothing / static_cast<A>(n > 1 ? n : 1);
  const A target_weight = scale * (A(1) - smoothing);
  map_row<kBlock>(
      n,
      [&](int64_t i, A v) {
        const A d = scale * (exp_acc(v - log_sum_exp) - uniform);
        return i == target.value ? d - target_weight : d;
      },
      out, x_row);
}

// Per row: log_sum_exp[r] and row_loss[r] = lse - (1 - eps) x_t - eps / C sum(x) (0 for rows not
// kept). With grad non-null (the fused classifier, grad == logits) the row is then overwritten
// with its gradient for a unit upstream gradient, divided by *kept for the mean (kept non-null).
template <class T, bool kBlock>
__global__ void __launch_bounds__(row_block_threads(kBlock))
    cross_entropy_rows(RowLayout rows, const T* logits, T* grad, const int64_t* targets,
                       int64_t ignore_index, compute_t<T> smoothing, const int64_t* kept,
                       compute_t<T>* log_sum_exp, compute_t<T>* row_loss, DeviceError* error,
                       const char* op, const char* what) {
  using A = compute_t<T>;
  using G = Group<kBlock>;
  const int64_t n = rows.length;
  const A mean_scale = kept ? A(1) / static_cast<A>(*kept) : A(1);
  for (int64_t r = G::first_row(); r < rows.count; r += G::row_stride()) {
    const int64_t offset = rows.offset(r);
    const RowIn<T> x_row{logits + offset, rows.step};
    const Target target(targets[r], n, ignore_index);
    // Read before the fused classifier overwrites the row.
    const A target_logit =
        target.kept ? static_cast<A>(x_row.data[target.value * rows.step]) : A(0);
    MaxSum<A> s{A(-INFINITY), A(0)};
    visit_row<kBlock, T>(
        n, [&](int64_t, A v) { s = add_element(s, v); }, x_row);
    s = group_reduce<kBlock>(s, MergeMaxSum{});
    A smoothed = 0;
    if (smoothing > 0) {
      A total = 0;
      visit_row<kBlock, T>(
          n, [&](int64_t, A v) { total += v; }, x_row);
      smoothed = smoothing / static_cast<A>(n) * group_reduce<kBlock>(total, Plus{});
    }
    const A lse = s.max + log_acc(s.sum);
    if (G::rank() == 0) {
      log_sum_exp[r] = lse;
      if (!target.valid) report_out_of_range(error, op, what, target.value, r, n);
      row_loss[r] = target.kept ? lse - (A(1) - smoothing) * target_logit - smoothed : A(0);
    }
    if (grad) {
      G::sync();  // every member has read the row before any overwrites it
      write_logit_grad<kBlock>(n, RowOut<T>{grad + offset, rows.step}, x_row, target, lse,
                               mean_scale, smoothing);
    }
  }
}

template <class T, bool kBlock>
__global__ void __launch_bounds__(row_block_threads(kBlock))
    cross_entropy_backward_rows(RowLayout in, RowLayout out, const T* logits, T* dlogits,
                                const int64_t* targets, const compute_t<T>* log_sum_exp,
                                const compute_t<T>* grad_loss, bool per_row, const int64_t* kept,
                                int64_t ignore_index, compute_t<T> smoothing, DeviceError* error,
                                const char* op, const char* what) {
  using A = compute_t<T>;
  using G = Group<kBlock>;
  const int64_t n = in.length;
  const A mean_scale = kept ? A(1) / static_cast<A>(*kept) : A(1);
  for (int64_t r = G::first_row(); r < in.count; r += G::row_stride()) {
    const Target target(targets[r], n, ignore_index);
    if (!target.valid && G::rank() == 0) {
      report_out_of_range(error, op, what, target.value, r, n);
    }
    const A scale = per_row ? grad_loss[r] : grad_loss[0] * mean_scale;
    write_logit_grad<kBlock>(n, RowOut<T>{dlogits + out.offset(r), out.step},
                             RowIn<T>{logits + in.offset(r), in.step}, target, log_sum_exp[r],
                             scale, smoothing);
  }
}

// *kept = the number of targets that are not ignore_index. One block.
__global__ void __launch_bounds__(kBlockThreads)
    count_kept(const int64_t* targets, int64_t rows, int64_t ignore_index, int64_t* kept) {
  long long count = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) count += targets[r] != ignore_index;
  count = group_reduce<true>(count, Plus{});
  if (threadIdx.x == 0) *kept = count;
}

// loss = the sum of the row losses (in f64), divided by *kept for the mean. One block.
template <class A>
__global__ void __launch_bounds__(kBlockThreads)
    sum_losses(const A* row_loss, int64_t rows, const int64_t* kept, A* loss) {
  double total = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) total += row_loss[r];
  total = group_reduce<true>(total, Plus{});
  if (threadIdx.x == 0) loss[0] = static_cast<A>(kept ? total / static_cast<double>(*kept) : total);
}

// The count of kept targets as a device scalar, for Reduction::mean; undefined otherwise.
Tensor kept_count(const Tensor& targets, int64_t ignore_index, Reduction reduction) {
  if (reduction != Reduction::mean) return Tensor();
  Tensor kept = empty({}, {DType::i64, targets.device()});
  count_kept<<<1, kBlockThreads, 0, current_stream()>>>(
      pointer<const int64_t>(targets), targets.numel(), ignore_index, pointer<int64_t>(kept));
  STRATA_CUDA_CHECK(cudaGetLastError());
  return kept;
}

void launch_cross_entropy(const char* op, const Tensor& loss, const Tensor& log_sum_exp,
                          const Tensor& logits, const Tensor& targets, int64_t ignore_index,
                          Reduction reduction, double label_smoothing, bool grad_into_logits) {
  const RowLayout rows(logits, 1);
  STRATA_DISPATCH_FLOATING(logits.dtype(), op, [&] {
    using A = compute_t<scalar_t>;
    const Tensor kept = kept_count(targets, ignore_index, reduction);
    // Row losses go straight to the output for Reduction::none, else to a buffer summed below.
    const Tensor row_loss =
        reduction == Reduction::none ? loss : empty({rows.count}, log_sum_exp.options());
    launch_rows(rows.count, rows.length, [&](auto block, unsigned grid, int threads) {
      cross_entropy_rows<scalar_t, decltype(block)::value><<<grid, threads, 0, current_stream()>>>(
          rows, pointer<const scalar_t>(logits),
          grad_into_logits ? pointer<scalar_t>(logits) : nullptr, pointer<const int64_t>(targets),
          ignore_index, static_cast<A>(label_smoothing), pointer<const int64_t>(kept),
          pointer<A>(log_sum_exp), pointer<A>(row_loss), device_error_slot(), op, "target");
    });
    if (reduction == Reduction::none) return;
    sum_losses<A><<<1, kBlockThreads, 0, current_stream()>>>(
        pointer<const A>(row_loss), rows.count, pointer<const int64_t>(kept), pointer<A>(loss));
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

// dlogits row r *= grad_loss[r] (per_row) or grad_loss[0], in place.
template <class T, bool kBlock>
__global__ void __launch_bounds__(row_block_threads(kBlock))
    scale_rows(RowLayout rows, T* data, const compute_t<T>* grad_loss, bool per_row) {
  using A = compute_t<T>;
  using G = Group<kBlock>;
  for (int64_t r = G::first_row(); r < rows.count; r += G::row_stride()) {
    const A scale = per_row ? grad_loss[r] : grad_loss[0];
    T* row = data + rows.offset(r);
    map_row<kBlock>(
        rows.length, [&](int64_t, A v) { return v * scale; }, RowOut<T>{row, rows.step},
        RowIn<T>{row, rows.step});
  }
}

}  // namespace

void softmax_kernel(const Tensor& y, const Tensor& x, int64_t dim, bool log) {
  const RowLayout in(x, dim), out(y, dim);
  STRATA_DISPATCH_FLOATING(x.dtype(), log ? "log_softmax" : "softmax", [&] {
    launch_rows(in.count, in.length, [&](auto block, unsigned grid, int threads) {
      softmax_rows<scalar_t, decltype(block)::value><<<grid, threads, 0, current_stream()>>>(
          in, out, pointer<const scalar_t>(x), pointer<scalar_t>(y), log);
    });
  });
}

void softmax_backward_kernel(const Tensor& dx, const Tensor& grad, const Tensor& y, int64_t dim,
                             bool log) {
  const RowLayout g_rows(grad, dim), y_rows(y, dim), dx_rows(dx, dim);
  STRATA_DISPATCH_FLOATING(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&] {
    launch_rows(y_rows.count, y_rows.length, [&](auto block, unsigned grid, int threads) {
      softmax_backward_rows<scalar_t, decltype(block)::value>
          <<<grid, threads, 0, current_stream()>>>(
              g_rows, y_rows, dx_rows, pointer<const scalar_t>(grad), pointer<const scalar_t>(y),
              pointer<scalar_t>(dx), log);
    });
  });
}

void norm_kernel(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                 const Tensor& weight, const Tensor& bias, double eps) {
  launch_norm(Tensor(), y, mean, rstd, x, Tensor(), weight, bias, eps);
}

void add_norm_kernel(const Tensor& sum, const Tensor& y, const Tensor& mean, const Tensor& rstd,
                     const Tensor& x, const Tensor& residual, const Tensor& weight,
                     const Tensor& bias, double eps) {
  launch_norm(sum, y, mean, rstd, x, residual, weight, bias, eps);
}

void norm_backward_kernel(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                          const Tensor& grad, const Tensor& x, const Tensor& mean,
                          const Tensor& rstd, const Tensor& weight) {
  const int64_t last = x.dim() - 1;
  const RowLayout g_rows(grad, last), x_rows(x, last), dx_rows(dx, last);
  const int64_t n = x_rows.length, rows = x_rows.count;
  STRATA_DISPATCH_FLOATING(
      x.dtype(), mean.defined() ? "layer_norm_backward" : "rms_norm_backward", [&] {
        using A = compute_t<scalar_t>;
        launch_rows(rows, n, [&](auto block, unsigned grid, int threads) {
          norm_backward_rows<scalar_t, decltype(block)::value>
              <<<grid, threads, 0, current_stream()>>>(
                  g_rows, x_rows, dx_rows, pointer<const scalar_t>(grad),
                  pointer<const scalar_t>(x), pointer<scalar_t>(dx),
                  affine_of<scalar_t>(weight, Tensor()), pointer<const A>(mean),
                  pointer<const A>(rstd));
        });
        if ((!dweight.defined() && !dbias.defined()) || n == 0) return;
        const int64_t chunk_rows = std::max(kMinChunkRows, (rows + kMaxChunks - 1) / kMaxChunks);
        const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
        const auto column_blocks = static_cast<unsigned>((n + kColumnThreads - 1) / kColumnThreads);
        const Tensor partials = empty({2, chunks, n}, rstd.options());  // weight's, then bias's
        A* partial_weight = pointer<A>(partials);
        A* partial_bias = partial_weight + chunks * n;
        if (chunks > 0) {
          norm_param_partials<scalar_t><<<dim3(column_blocks, static_cast<unsigned>(chunks)),
                                          kColumnThreads, 0, current_stream()>>>(
              g_rows, x_rows, pointer<const scalar_t>(grad), pointer<const scalar_t>(x),
              pointer<const A>(mean), pointer<const A>(rstd), chunk_rows, partial_weight,
              partial_bias);
          STRATA_CUDA_CHECK(cudaGetLastError());
        }
        for (auto [out, partial] :
             {std::pair{&dweight, partial_weight}, std::pair{&dbias, partial_bias}}) {
          if (!out->defined()) continue;
          sum_partials<scalar_t><<<column_blocks, kColumnThreads, 0, current_stream()>>>(
              partial, chunks, n, pointer<scalar_t>(*out), out->stride(0));
          STRATA_CUDA_CHECK(cudaGetLastError());
        }
      });
}

void cross_entropy_kernel(const Tensor& loss, const Tensor& log_sum_exp, const Tensor& logits,
                          const Tensor& targets, int64_t ignore_index, Reduction reduction,
                          double label_smoothing) {
  launch_cross_entropy("cross_entropy", loss, log_sum_exp, logits, targets, ignore_index, reduction,
                       label_smoothing, false);
}

void cross_entropy_inplace_grad_kernel(const Tensor& loss, const Tensor& log_sum_exp,
                                       const Tensor& logits, const Tensor& targets,
                                       int64_t ignore_index, Reduction reduction,
                                       double label_smoothing) {
  launch_cross_entropy("cross_entropy_inplace_grad", loss, log_sum_exp, logits, targets,
                       ignore_index, reduction, label_smoothing, true);
}

void cross_entropy_backward_kernel(const Tensor& dlogits, const Tensor& grad_loss,
                                   const Tensor& logits, const Tensor& targets,
                                   const Tensor& log_sum_exp, int64_t ignore_index,
                                   Reduction reduction, double label_smoothing) {
  const RowLayout in(logits, 1), out(dlogits, 1);
  STRATA_DISPATCH_FLOATING(logits.dtype(), "cross_entropy_backward", [&] {
    using A = compute_t<scalar_t>;
    const Tensor kept = kept_count(targets, ignore_index, reduction);
    launch_rows(in.count, in.length, [&](auto block, unsigned grid, int threads) {
      cross_entropy_backward_rows<scalar_t, decltype(block)::value>
          <<<grid, threads, 0, current_stream()>>>(
              in, out, pointer<const scalar_t>(logits), pointer<scalar_t>(dlogits),
              pointer<const int64_t>(targets), pointer<const A>(log_sum_exp),
              pointer<const A>(grad_loss), reduction == Reduction::none,
              pointer<const int64_t>(kept), ignore_index, static_cast<A>(label_smoothing),
              device_error_slot(), "cross_entropy_backward", "target");
    });
  });
}

void cross_entropy_scale_grad_kernel(const Tensor& dlogits, const Tensor& grad_loss,
                                     Reduction reduction) {
  const RowLayout rows(dlogits, 1);
  STRATA_DISPATCH_FLOATING(dlogits.dtype(), "cross_entropy_inplace_grad_backward", [&] {
    using A = compute_t<scalar_t>;
    launch_rows(rows.count, rows.length, [&](auto block, unsigned grid, int threads) {
      scale_rows<scalar_t, decltype(block)::value><<<grid, threads, 0, current_stream()>>>(
          rows, pointer<scalar_t>(dlogits), pointer<const A>(grad_loss),
          reduction == Reduction::none);
    });
  });
}

}  // namespace strata::cuda
