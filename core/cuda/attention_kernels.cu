// CUDA flash attention (core/attention.hpp), forward and backward, never holding a T x S matrix.
//
// bf16/f16 with D = 32, 64 or 128 take the tensor-core kernels (FlashAttention-2): a CTA of four
// warps owns a 64-row tile, streams the other operand's 64-row tiles through shared memory with
// cp.async double buffering, and multiplies with mma.m16n8k16 (f32 accumulators), each warp owning
// 16 rows so no reduction crosses warps.
//   forward:  CTA per (query tile, b*h); S = Q K^T, online softmax in registers (exp2 with
//             log2(e) * scale folded in), O += P V; writes O and the row log-sum-exp.
//   backward: delta = rowsum(dO * O) first; then CTA per (key tile, b*h) iterating over query
//             tiles: S^T = K Q^T, P^T = exp(S^T - lse), dV += P^T dO, dP^T = V dO^T,
//             dS^T = P^T (dP^T - delta), dK += dS^T Q; and, separately, CTA per (query tile, b*h)
//             iterating over key tiles for dQ += dS K. Recomputing P in the dQ pass costs three
//             more products than FlashAttention-2's atomic dQ, and buys a deterministic dQ.
// Causal tiles that lie wholly above the diagonal are skipped; the diagonal tile and tiles that
// run past T or S are masked element by element.
//
// Other cases (f32, f64, other head dims up to 256, unaligned rows) take plain SIMT kernels: a
// warp per output row, the head dim spread over its lanes, the same online softmax and the same
// row-wise backward as the CPU reference.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <initializer_list>
#include <type_traits>

#include "core/attention_kernels.hpp"
#include "core/cuda/cuda_check.hpp"
#include "core/cuda/mma.cuh"
#include "core/dtype.hpp"
#include "core/factories.hpp"

namespace strata::cuda {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr unsigned kFullMask = 0xffffffffu;

// A [B, H, rows, D] tensor whose head dim has stride 1, by element strides.
template <class T>
struct Heads {
  T* data;
  int64_t batch_stride, head_stride, row_stride;
  // Row 0 of head bh = b * heads + h.
  __device__ T* head(int64_t bh, int heads) const {
    return data + bh / heads * batch_stride + bh % heads * head_stride;
  }
};

template <class T>
Heads<T> heads_of(const Tensor& t) {
  return {static_cast<T*>(t.data_ptr()), t.stride(0), t.stride(1), t.stride(2)};
}

template <class T, class Acc>
struct ForwardArgs {
  Heads<const T> q, k, v;
  Heads<T> out;
  Acc* lse;  // [B * H * queries]
  int heads, queries, keys, dim;
  Acc scale;
  bool causal;
};

template <class T, class Acc>
struct BackwardArgs {
  Heads<const T> q, k, v, grad_out;
  Heads<T> dq, dk, dv;
  const Acc* lse;    // [B * H * queries]
  const Acc* delta;  // [B * H * queries], rowsum(dO * O)
  int heads, queries, keys, dim;
  Acc scale;
  bool causal;
};

template <class Acc>
__device__ Acc warp_sum(Acc x) {
  // A butterfly: every lane ends with the same sum (a + b == b + a exactly).
  for (int offset = 16; offset > 0; offset /= 2) x += __shfl_xor_sync(kFullMask, x, offset);
  return x;
}

__device__ inline float exp_of(float x) { return expf(x); }
__device__ inline double exp_of(double x) { return exp(x); }
__device__ inline float log_of(float x) { return logf(x); }
__device__ inline double log_of(double x) { return log(x); }

// delta[row] = sum_d dO[row, d] * O[row, d], a warp per row of B * H * queries.
template <class T>
__global__ void attention_delta_kernel(Heads<const T> out, Heads<const T> grad_out,
                                       compute_t<T>* delta, int heads, int queries, int dim,
                                       int64_t rows) {
  using Acc = compute_t<T>;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= rows) return;  // whole warps leave together
  const int64_t bh = row / queries, i = row % queries;
  const T* o = out.head(bh, heads) + i * out.row_stride;
  const T* g = grad_out.head(bh, heads) + i * grad_out.row_stride;
  Acc sum = 0;
  for (int d = threadIdx.x % 32; d < dim; d += 32) sum += Acc(o[d]) * Acc(g[d]);
  sum = warp_sum(sum);
  if (threadIdx.x % 32 == 0) delta[row] = sum;
}

// ---- SIMT kernels: any floating dtype, D <= kSimtMaxDim ---------------------------------------

constexpr int kSimtMaxDim = 256;
constexpr int kPerLane = kSimtMaxDim / 32;  // head-dim elements per lane: d = lane + 32 u

template <class T, class Acc>
__device__ void load_lanes(Acc (&dst)[kPerLane], const T* row, int dim) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int d = lane + 32 * u;
    dst[u] = d < dim ? Acc(row[d]) : Acc(0);
  }
}

template <class T, class Acc>
__device__ Acc warp_dot(const Acc (&x)[kPerLane], const T* row, int dim) {
  const int lane = threadIdx.x % 32;
  Acc partial = 0;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int d = lane + 32 * u;
    if (d < dim) partial += x[u] * Acc(row[d]);
  }
  return warp_sum(partial);
}

template <class T, class Acc>
__device__ void axpy_lanes(Acc (&acc)[kPerLane], Acc a, const T* row, int dim) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int d = lane + 32 * u;
    if (d < dim) acc[u] += a * Acc(row[d]);
  }
}

template <class T, class Acc>
__device__ void store_lanes(T* row, const Acc (&acc)[kPerLane], Acc factor, int dim) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int u = 0; u < kPerLane; ++u) {
    const int d = lane + 32 * u;
    if (d < dim) row[d] = T(acc[u] * factor);
  }
}

// A warp per query row: online softmax over the keys the row sees.
template <class T>
__global__ void simt_forward_kernel(ForwardArgs<T, compute_t<T>> a, int64_t rows) {
  using Acc = compute_t<T>;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= rows) return;
  const int64_t bh = row / a.queries;
  const int i = static_cast<int>(row % a.queries);
  const T* k = a.k.head(bh, a.heads);
  const T* v = a.v.head(bh, a.heads);
  Acc query[kPerLane], acc[kPerLane] = {};
  load_lanes(query, a.q.head(bh, a.heads) + i * a.q.row_stride, a.dim);
  Acc max = Acc(-INFINITY), sum = 0;
  const int seen = a.causal ? i + 1 : a.keys;
  for (int j = 0; j < seen; ++j) {
    const Acc score = warp_dot(query, k + j * a.k.row_stride, a.dim) * a.scale;
    if (score > max) {  // rescale what was summed against the old maximum
      const Acc shrink = exp_of(max - score);
      sum *= shrink;
#pragma unroll
      for (int u = 0; u < kPerLane; ++u) acc[u] *= shrink;
      max = score;
    }
    const Acc p = exp_of(score - max);
    sum += p;
    axpy_lanes(acc, p, v + j * a.v.row_stride, a.dim);
  }
  store_lanes(a.out.head(bh, a.heads) + i * a.out.row_stride, acc, Acc(1) / sum, a.dim);
  if (threadIdx.x % 32 == 0) a.lse[row] = max + log_of(sum);
}

// A warp per query row: dq_i = scale sum_j P_ij (dO_i.v_j - delta_i) k_j.
template <class T>
__global__ void simt_backward_dq_kernel(BackwardArgs<T, compute_t<T>> a, int64_t rows) {
  using Acc = compute_t<T>;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= rows) return;
  const int64_t bh = row / a.queries;
  const int i = static_cast<int>(row % a.queries);
  const T* k = a.k.head(bh, a.heads);
  const T* v = a.v.head(bh, a.heads);
  Acc query[kPerLane], grad[kPerLane], acc[kPerLane] = {};
  load_lanes(query, a.q.head(bh, a.heads) + i * a.q.row_stride, a.dim);
  load_lanes(grad, a.grad_out.head(bh, a.heads) + i * a.grad_out.row_stride, a.dim);
  const Acc lse = a.lse[row], delta = a.delta[row];
  const int seen = a.causal ? i + 1 : a.keys;
  for (int j = 0; j < seen; ++j) {
    const T* key = k + j * a.k.row_stride;
    const Acc p = exp_of(warp_dot(query, key, a.dim) * a.scale - lse);
    const Acc ds = p * (warp_dot(grad, v + j * a.v.row_stride, a.dim) - delta);
    axpy_lanes(acc, ds, key, a.dim);
  }
  store_lanes(a.dq.head(bh, a.heads) + i * a.dq.row_stride, acc, a.scale, a.dim);
}

// A warp per key row: dv_j = sum_i P_ij dO_i, dk_j = scale sum_i dS_ij q_i.
template <class T>
__global__ void simt_backward_dkdv_kernel(BackwardArgs<T, compute_t<T>> a, int64_t rows) {
  using Acc = compute_t<T>;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= rows) return;
  const int64_t bh = row / a.keys;
  const int j = static_cast<int>(row % a.keys);
  const T* q = a.q.head(bh, a.heads);
  const T* g = a.grad_out.head(bh, a.heads);
  const Acc* lse = a.lse + bh * a.queries;
  const Acc* delta = a.delta + bh * a.queries;
  Acc key[kPerLane], value[kPerLane], acc_k[kPerLane] = {}, acc_v[kPerLane] = {};
  load_lanes(key, a.k.head(bh, a.heads) + j * a.k.row_stride, a.dim);
  load_lanes(value, a.v.head(bh, a.heads) + j * a.v.row_stride, a.dim);
  for (int i = a.causal ? j : 0; i < a.queries; ++i) {
    const T* query = q + i * a.q.row_stride;
    const T* grad = g + i * a.grad_out.row_stride;
    const Acc p = exp_of(warp_dot(key, query, a.dim) * a.scale - lse[i]);
    const Acc ds = p * (warp_dot(value, grad, a.dim) - delta[i]);
    axpy_lanes(acc_v, p, grad, a.dim);
    axpy_lanes(acc_k, ds, query, a.dim);
  }
  store_lanes(a.dk.head(bh, a.heads) + j * a.dk.row_stride, acc_k, a.scale, a.dim);
  store_lanes(a.dv.head(bh, a.heads) + j * a.dv.row_stride, acc_v, Acc(1), a.dim);
}

// ---- tensor-core kernels: bf16/f16, D in {32, 64, 128} ----------------------------------------

constexpr int kTile = 64;  // rows of every tile: query rows and keys alike, 16 per warp

// A 64 x D tile in shared memory, rows padded by 16 bytes so the eight row addresses of an
// ldmatrix fall in eight different 16-byte bank groups.
template <int D>
struct Tile {
  static constexpr int stride = D + 8;
  static constexpr int elements = kTile * stride;
  static constexpr int bytes = elements * 2;
};

// Rows [first, first + 64) of a head's [rows, D] matrix into a tile; rows at or past `rows` are
// zero-filled (so masked products meet zeros, never stale NaNs).
template <int D, class T>
__device__ void load_tile(T* tile, const T* head, int64_t row_stride, int first, int rows) {
  constexpr int kChunks = D / 8;  // 16-byte chunks per row
  for (int c = threadIdx.x; c < kTile * kChunks; c += kThreads) {
    const int r = c / kChunks, col = c % kChunks * 8;
    const bool valid = first + r < rows;
    const T* src = head + (valid ? first + r : 0) * row_stride + col;
    mma::cp_async_16(tile + r * Tile<D>::stride + col, src, valid);
  }
}

// acc (16 x 64, as eight 16 x 8 C fragments) = A[a_row .. a_row + 16, :] B^T for tiles A and B
// (64 x D each): rows of A against rows of B.
template <int D, class T>
__device__ void product_abt(float (&acc)[8][4], const T* a_tile, int a_row, const T* b_tile) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int n = 0; n < 8; ++n) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    uint32_t a[4];  // rows a_row + (lane % 16), cols kk*16 + 8 (lane / 16)
    mma::ldmatrix_x4(a, a_tile + (a_row + lane % 16) * Tile<D>::stride + kk * 16 + lane / 16 * 8);
#pragma unroll
    for (int np = 0; np < 4; ++np) {
      // B[k][n] = b_tile[n][k]: matrices (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7),
      // (n 8-15, k 8-15) of the 16 rows np*16.., i.e. b0 b1 of n-tile 2np, then of 2np + 1.
      uint32_t b[4];
      mma::ldmatrix_x4(b, b_tile + (np * 16 + lane / 16 * 8 + lane % 8) * Tile<D>::stride +
                              kk * 16 + lane / 8 % 2 * 8);
      mma::mma_16816<T>(acc[2 * np], a, b[0], b[1]);
      mma::mma_16816<T>(acc[2 * np + 1], a, b[2], b[3]);
    }
  }
}

// acc (16 x D, D/8 C fragments) += P B for P (16 x 64, eight C fragments, rounded to T) and a
// 64 x D tile B: P's columns index B's rows.
template <int D, class T>
__device__ void accumulate_pb(float (&acc)[D / 8][4], const float (&p)[8][4], const T* b_tile) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int kk = 0; kk < 4; ++kk) {
    uint32_t a[4];
    mma::c_pair_to_a<T>(a, p[2 * kk], p[2 * kk + 1]);
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      // B[k][n] = b_tile[k][n], loaded transposed: matrices (k 0-7, n 0-7), (k 8-15, n 0-7),
      // (k 0-7, n 8-15), (k 8-15, n 8-15) of rows kk*16.., cols dp*16..
      uint32_t b[4];
      mma::ldmatrix_x4_trans(
          b, b_tile + (kk * 16 + lane % 16) * Tile<D>::stride + dp * 16 + lane / 16 * 8);
      mma::mma_16816<T>(acc[2 * dp], a, b[0], b[1]);
      mma::mma_16816<T>(acc[2 * dp + 1], a, b[2], b[3]);
    }
  }
}

// Stores rows `row` and `row + 8` (this thread's two rows of a warp's 16) of a 16 x D C-fragment
// accumulator times `factor`, skipping rows at or past `rows`.
template <int D, class T>
__device__ void store_rows(T* head, int64_t row_stride, int row, int rows,
                           const float (&acc)[D / 8][4], float factor0, float factor1) {
  const int pair = threadIdx.x % 4;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = row + 8 * half;
    if (r >= rows) continue;
    const float factor = half == 0 ? factor0 : factor1;
    T* dst = head + r * row_stride + pair * 2;
#pragma unroll
    for (int dn = 0; dn < D / 8; ++dn) {
      *reinterpret_cast<uint32_t*>(dst + dn * 8) =
          mma::pack<T>(acc[dn][2 * half] * factor, acc[dn][2 * half + 1] * factor);
    }
  }
}

// CTA per (b*h = blockIdx.x, query tile): shared memory holds the Q tile and two K and V buffers.
template <class T, int D>
__global__ void __launch_bounds__(kThreads) flash_forward_kernel(ForwardArgs<T, float> a) {
  extern __shared__ __align__(16) unsigned char shared[];
  constexpr int E = Tile<D>::elements;
  T* q_tile = reinterpret_cast<T*>(shared);
  T* k_tiles = q_tile + E;
  T* v_tiles = k_tiles + 2 * E;
  const int64_t bh = blockIdx.x;
  const int q0 = (gridDim.y - 1 - blockIdx.y) * kTile;  // the longest causal rows start first
  const int warp = threadIdx.x / 32, group = threadIdx.x % 32 / 4, pair = threadIdx.x % 4;
  const int row = q0 + warp * 16 + group;  // this thread's rows: row, row + 8
  const T* k = a.k.head(bh, a.heads);
  const T* v = a.v.head(bh, a.heads);
  const float scale_log2 = a.scale * kLog2e;
  const int key_end = a.causal ? min(a.keys, q0 + kTile) : a.keys;
  const int key_tiles = (key_end + kTile - 1) / kTile;

  load_tile<D>(q_tile, a.q.head(bh, a.heads), a.q.row_stride, q0, a.queries);
  load_tile<D>(k_tiles, k, a.k.row_stride, 0, a.keys);
  load_tile<D>(v_tiles, v, a.v.row_stride, 0, a.keys);
  mma::cp_async_commit();

  float o[D / 8][4] = {};
  float row_max[2] = {-INFINITY, -INFINITY};  // in units of log2: scores * scale * log2(e)
  float row_sum[2] = {0.f, 0.f};              // this thread's columns only, reduced at the end
  for (int t = 0; t < key_tiles; ++t) {
    const int buffer = t % 2;
    if (t + 1 < key_tiles) {  // prefetch the next K, V tiles into the other buffer
      load_tile<D>(k_tiles + (1 - buffer) * E, k, a.k.row_stride, (t + 1) * kTile, a.keys);
      load_tile<D>(v_tiles + (1 - buffer) * E, v, a.v.row_stride, (t + 1) * kTile, a.keys);
      mma::cp_async_commit();
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    float s[8][4];  // S = Q K^T: rows row + {0, 8}, keys k0 + n*8 + 2 pair + {0, 1}
    product_abt<D>(s, q_tile, warp * 16, k_tiles + buffer * E);
    const int k0 = t * kTile;
    const bool masked = k0 + kTile > a.keys || (a.causal && k0 + kTile - 1 > q0);
    float tile_max[2] = {row_max[0], row_max[1]};
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        float x = s[n][c] * scale_log2;
        if (masked) {
          const int key = k0 + n * 8 + pair * 2 + (c & 1);
          if (key >= a.keys || (a.causal && key > row + (c >> 1) * 8)) x = -INFINITY;
        }
        s[n][c] = x;
        tile_max[c >> 1] = fmaxf(tile_max[c >> 1], x);
      }
    }
    float shift[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      // The four threads of a quad hold one row between them.
      tile_max[half] = fmaxf(tile_max[half], __shfl_xor_sync(kFullMask, tile_max[half], 1));
      tile_max[half] = fmaxf(tile_max[half], __shfl_xor_sync(kFullMask, tile_max[half], 2));
      // A row that has seen only masked keys keeps max -inf: shift by 0 so exp2 gives 0, not NaN.
      shift[half] = tile_max[half] == -INFINITY ? 0.f : tile_max[half];
      const float rescale = exp2f(row_max[half] - shift[half]);
      row_max[half] = tile_max[half];
      row_sum[half] *= rescale;
#pragma unroll
      for (int dn = 0; dn < D / 8; ++dn) {
        o[dn][2 * half] *= rescale;
        o[dn][2 * half + 1] *= rescale;
      }
    }
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        s[n][c] = exp2f(s[n][c] - shift[c >> 1]);
        row_sum[c >> 1] += s[n][c];
      }
    }
    accumulate_pb<D>(o, s, v_tiles + buffer * E);  // O += P V
    __syncthreads();  // every warp is done with this buffer before it is refilled
  }

  float inverse[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float sum = row_sum[half];
    sum += __shfl_xor_sync(kFullMask, sum, 1);
    sum += __shfl_xor_sync(kFullMask, sum, 2);
    inverse[half] = 1.f / sum;
    const int r = row + 8 * half;
    if (pair == 0 && r < a.queries) {
      // log(sum_j exp(score_j)) = ln 2 * (max + log2(sum)) with max in log2 units.
      a.lse[bh * a.queries + r] = (row_max[half] + log2f(sum)) * kLn2;
    }
  }
  store_rows<D>(a.out.head(bh, a.heads), a.out.row_stride, row, a.queries, o, inverse[0],
                inverse[1]);
}

// Loads lse (in log2 units) and delta of queries [q0, q0 + 64) into shared memory, 0 past the end.
__device__ inline void load_row_stats(float* lse_tile, float* delta_tile, const float* lse,
                                      const float* delta, int q0, int queries) {
  const int i = threadIdx.x % kTile;
  const bool valid = q0 + i < queries;
  if (threadIdx.x < kTile) {
    lse_tile[i] = valid ? lse[q0 + i] * kLog2e : 0.f;
  } else if (threadIdx.x < 2 * kTile) {
    delta_tile[i] = valid ? delta[q0 + i] : 0.f;
  }
}

// CTA per (b*h = blockIdx.x, key tile blockIdx.y): K, V tiles stay; Q, dO tiles and their row
// statistics stream through two buffers. Warp w owns keys k0 + 16 w ..; every product has its
// rows in keys.
template <class T, int D>
__global__ void __launch_bounds__(kThreads) flash_backward_dkdv_kernel(BackwardArgs<T, float> a) {
  extern __shared__ __align__(16) unsigned char shared[];
  constexpr int E = Tile<D>::elements;
  T* k_tile = reinterpret_cast<T*>(shared);
  T* v_tile = k_tile + E;
  T* q_tiles = v_tile + E;
  T* grad_tiles = q_tiles + 2 * E;
  float* lse_tiles = reinterpret_cast<float*>(grad_tiles + 2 * E);  // [2][64]
  float* delta_tiles = lse_tiles + 2 * kTile;                       // [2][64]
  const int64_t bh = blockIdx.x;
  const int k0 = blockIdx.y * kTile;
  const int warp = threadIdx.x / 32, group = threadIdx.x % 32 / 4, pair = threadIdx.x % 4;
  const int key = k0 + warp * 16 + group;  // this thread's keys: key, key + 8
  const T* q = a.q.head(bh, a.heads);
  const T* g = a.grad_out.head(bh, a.heads);
  const float* lse = a.lse + bh * a.queries;
  const float* delta = a.delta + bh * a.queries;
  const float scale_log2 = a.scale * kLog2e;
  // Causal: queries before k0 see none of these keys (tiles are aligned: query tile k0 / 64).
  const int first_tile = a.causal ? blockIdx.y : 0;
  const int query_tiles = (a.queries + kTile - 1) / kTile;

  load_tile<D>(k_tile, a.k.head(bh, a.heads), a.k.row_stride, k0, a.keys);
  load_tile<D>(v_tile, a.v.head(bh, a.heads), a.v.row_stride, k0, a.keys);
  load_tile<D>(q_tiles, q, a.q.row_stride, first_tile * kTile, a.queries);
  load_tile<D>(grad_tiles, g, a.grad_out.row_stride, first_tile * kTile, a.queries);
  mma::cp_async_commit();
  load_row_stats(lse_tiles, delta_tiles, lse, delta, first_tile * kTile, a.queries);

  float dk[D / 8][4] = {}, dv[D / 8][4] = {};
  for (int t = first_tile; t < query_tiles; ++t) {
    const int buffer = (t - first_tile) % 2, next = 1 - buffer;
    if (t + 1 < query_tiles) {
      load_tile<D>(q_tiles + next * E, q, a.q.row_stride, (t + 1) * kTile, a.queries);
      load_tile<D>(grad_tiles + next * E, g, a.grad_out.row_stride, (t + 1) * kTile, a.queries);
      mma::cp_async_commit();
      load_row_stats(lse_tiles + next * kTile, delta_tiles + next * kTile, lse, delta,
                     (t + 1) * kTile, a.queries);
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    const T* q_tile = q_tiles + buffer * E;
    const T* grad_tile = grad_tiles + buffer * E;
    const float* lse_tile = lse_tiles + buffer * kTile;
    const float* delta_tile = delta_tiles + buffer * kTile;
    const int q0 = t * kTile;
    const bool masked = q0 + kTile > a.queries || (a.causal && q0 < k0 + kTile - 1);
    float p[8][4];  // P^T: rows key + {0, 8}, queries q0 + n*8 + 2 pair + {0, 1}
    product_abt<D>(p, k_tile, warp * 16, q_tile);
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int col = n * 8 + pair * 2 + (c & 1);
        float x = p[n][c] * scale_log2 - lse_tile[col];
        if (masked && (q0 + col >= a.queries || (a.causal && key + (c >> 1) * 8 > q0 + col))) {
          x = -INFINITY;
        }
        p[n][c] = exp2f(x);
      }
    }
    accumulate_pb<D>(dv, p, grad_tile);  // dV += P^T dO
    float ds[8][4];
    product_abt<D>(ds, v_tile, warp * 16, grad_tile);  // dP^T = V dO^T
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        ds[n][c] = p[n][c] * (ds[n][c] - delta_tile[n * 8 + pair * 2 + (c & 1)]);
      }
    }
    accumulate_pb<D>(dk, ds, q_tile);  // dK += dS^T Q (times scale at the end)
    __syncthreads();
  }
  store_rows<D>(a.dk.head(bh, a.heads), a.dk.row_stride, key, a.keys, dk, a.scale, a.scale);
  store_rows<D>(a.dv.head(bh, a.heads), a.dv.row_stride, key, a.keys, dv, 1.f, 1.f);
}

// CTA per (b*h = blockIdx.x, query tile): Q, dO tiles stay; K, V tiles stream through two
// buffers. Warp w owns queries q0 + 16 w ..; dQ = scale sum over key tiles of dS K.
template <class T, int D>
__global__ void __launch_bounds__(kThreads) flash_backward_dq_kernel(BackwardArgs<T, float> a) {
  extern __shared__ __align__(16) unsigned char shared[];
  constexpr int E = Tile<D>::elements;
  T* q_tile = reinterpret_cast<T*>(shared);
  T* grad_tile = q_tile + E;
  T* k_tiles = grad_tile + E;
  T* v_tiles = k_tiles + 2 * E;
  const int64_t bh = blockIdx.x;
  const int q0 = (gridDim.y - 1 - blockIdx.y) * kTile;  // the longest causal rows start first
  const int warp = threadIdx.x / 32, group = threadIdx.x % 32 / 4, pair = threadIdx.x % 4;
  const int row = q0 + warp * 16 + group;  // this thread's rows: row, row + 8
  const T* k = a.k.head(bh, a.heads);
  const T* v = a.v.head(bh, a.heads);
  const float scale_log2 = a.scale * kLog2e;
  const int key_end = a.causal ? min(a.keys, q0 + kTile) : a.keys;
  const int key_tiles = (key_end + kTile - 1) / kTile;

  load_tile<D>(q_tile, a.q.head(bh, a.heads), a.q.row_stride, q0, a.queries);
  load_tile<D>(grad_tile, a.grad_out.head(bh, a.heads), a.grad_out.row_stride, q0, a.queries);
  load_tile<D>(k_tiles, k, a.k.row_stride, 0, a.keys);
  load_tile<D>(v_tiles, v, a.v.row_stride, 0, a.keys);
  mma::cp_async_commit();
  float lse[2], delta[2];
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int r = row + 8 * half;
    lse[half] = r < a.queries ? a.lse[bh * a.queries + r] * kLog2e : 0.f;
    delta[half] = r < a.queries ? a.delta[bh * a.queries + r] : 0.f;
  }

  float dq[D / 8][4] = {};
  for (int t = 0; t < key_tiles; ++t) {
    const int buffer = t % 2;
    if (t + 1 < key_tiles) {
      load_tile<D>(k_tiles + (1 - buffer) * E, k, a.k.row_stride, (t + 1) * kTile, a.keys);
      load_tile<D>(v_tiles + (1 - buffer) * E, v, a.v.row_stride, (t + 1) * kTile, a.keys);
      mma::cp_async_commit();
      mma::cp_async_wait<1>();
    } else {
      mma::cp_async_wait<0>();
    }
    __syncthreads();
    const T* k_tile = k_tiles + buffer * E;
    const int k0 = t * kTile;
    const bool masked = k0 + kTile > a.keys || (a.causal && k0 + kTile - 1 > q0);
    float p[8][4];  // P: rows row + {0, 8}, keys k0 + n*8 + 2 pair + {0, 1}
    product_abt<D>(p, q_tile, warp * 16, k_tile);
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int key = k0 + n * 8 + pair * 2 + (c & 1);
        float x = p[n][c] * scale_log2 - lse[c >> 1];
        if (masked && (key >= a.keys || (a.causal && key > row + (c >> 1) * 8))) x = -INFINITY;
        p[n][c] = exp2f(x);
      }
    }
    float ds[8][4];
    product_abt<D>(ds, grad_tile, warp * 16, v_tiles + buffer * E);  // dP = dO V^T
#pragma unroll
    for (int n = 0; n < 8; ++n) {
#pragma unroll
      for (int c = 0; c < 4; ++c) ds[n][c] = p[n][c] * (ds[n][c] - delta[c >> 1]);
    }
    accumulate_pb<D>(dq, ds, k_tile);  // dQ += dS K (times scale at the end)
    __syncthreads();
  }
  store_rows<D>(a.dq.head(bh, a.heads), a.dq.row_stride, row, a.queries, dq, a.scale, a.scale);
}

// ---- launches -------------------------------------------------------------------------------

// The tensor-core type of a Strata 16-bit float.
template <class T>
struct MmaType;
template <>
struct MmaType<BFloat16> {
  using type = __nv_bfloat16;
};
template <>
struct MmaType<Half> {
  using type = __half;
};

// cp.async moves 16-byte chunks: rows must start 16-byte aligned (strides of size-1 dims are
// never used).
bool rows_aligned(const Tensor& t) {
  if (reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 != 0) return false;
  for (int d = 0; d < 3; ++d) {
    if (t.size(d) > 1 && t.stride(d) % 8 != 0) return false;
  }
  return true;
}

bool use_tensor_cores(DType dtype, int64_t dim, std::initializer_list<const Tensor*> tensors) {
  if (!is_16bit_float(dtype) || (dim != 32 && dim != 64 && dim != 128)) return false;
  for (const Tensor* t : tensors) {
    if (!rows_aligned(*t)) return false;
  }
  return true;
}

template <class Dst, class Src>
Heads<Dst> heads_as(const Tensor& t) {
  Heads<Src> h = heads_of<Src>(t);
  return {reinterpret_cast<Dst*>(h.data), h.batch_stride, h.head_stride, h.row_stride};
}

unsigned tiles_of(int64_t rows, const char* op) {
  const int64_t tiles = (rows + kTile - 1) / kTile;
  STRATA_CHECK(tiles <= 65535, op, ": ", rows, " rows make ", tiles,
               " tiles of 64, more than the grid's y limit of 65535");
  return static_cast<unsigned>(tiles);
}

unsigned warp_row_blocks(int64_t rows, const char* op) {
  const int64_t blocks = (rows + kWarps - 1) / kWarps;
  STRATA_CHECK(blocks <= 0x7fffffff, op, ": ", rows, " rows exceed the grid's x limit");
  return static_cast<unsigned>(blocks);
}

// Launches kernel<<<grid, kThreads, bytes>>> after allowing that much dynamic shared memory.
template <class Args>
void launch_tiled(void (*kernel)(Args), dim3 grid, int bytes, const Args& args) {
  STRATA_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  kernel<<<grid, kThreads, bytes, current_stream()>>>(args);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

// Calls fn(std::integral_constant<int, D>) for the tensor-core head dims.
template <class Fn>
void with_head_dim(int64_t dim, Fn&& fn) {
  switch (dim) {
    case 32: fn(std::integral_constant<int, 32>{}); return;
    case 64: fn(std::integral_constant<int, 64>{}); return;
    case 128: fn(std::integral_constant<int, 128>{}); return;
  }
  fail("flash_attention: no tensor-core kernel for head dim ", dim);
}

void check_simt_dim(const char* op, int64_t dim) {
  STRATA_CHECK(dim <= kSimtMaxDim, op, ": head dim ", dim, " on CUDA must be at most ", kSimtMaxDim,
               " (32, 64 and 128 run on tensor cores for bf16/f16)");
}

// S: the Strata element type of the tensors.
template <class S>
void attention_forward(const Tensor& out, const Tensor& logsumexp, const Tensor& q, const Tensor& k,
                       const Tensor& v, bool causal, double scale) {
  const char* op = "flash_attention";
  const int64_t batch_heads = q.size(0) * q.size(1), queries = q.size(2), dim = q.size(3);
  STRATA_CHECK(batch_heads <= 0x7fffffff, op, ": B * H = ", batch_heads, " exceeds the grid");
  if constexpr (is_16bit_float(dtype_of<S>())) {
    if (use_tensor_cores(q.dtype(), dim, {&q, &k, &v, &out})) {
      using T = typename MmaType<S>::type;
      const ForwardArgs<T, float> args{heads_as<const T, const S>(q),
                                       heads_as<const T, const S>(k),
                                       heads_as<const T, const S>(v),
                                       heads_as<T, S>(out),
                                       static_cast<float*>(logsumexp.data_ptr()),
                                       static_cast<int>(q.size(1)),
                                       static_cast<int>(queries),
                                       static_cast<int>(k.size(2)),
                                       static_cast<int>(dim),
                                       static_cast<float>(scale),
                                       causal};
      const dim3 grid(static_cast<unsigned>(batch_heads), tiles_of(queries, op));
      with_head_dim(dim, [&](auto d) {
        constexpr int D = decltype(d)::value;
        launch_tiled(flash_forward_kernel<T, D>, grid, 5 * Tile<D>::bytes, args);
      });
      return;
    }
  }
  using Acc = compute_t<S>;
  check_simt_dim(op, dim);
  const ForwardArgs<S, Acc> args{heads_of<const S>(q),
                                 heads_of<const S>(k),
                                 heads_of<const S>(v),
                                 heads_of<S>(out),
                                 static_cast<Acc*>(logsumexp.data_ptr()),
                                 static_cast<int>(q.size(1)),
                                 static_cast<int>(queries),
                                 static_cast<int>(k.size(2)),
                                 static_cast<int>(dim),
                                 static_cast<Acc>(scale),
                                 causal};
  const int64_t rows = batch_heads * queries;
  simt_forward_kernel<S><<<warp_row_blocks(rows, op), kThreads, 0, current_stream()>>>(args, rows);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

template <class S>
void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv,
                        const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                        const Tensor& out, const Tensor& logsumexp, bool causal, double scale) {
  using Acc = compute_t<S>;
  const char* op = "flash_attention_backward";
  const int64_t batch_heads = q.size(0) * q.size(1), queries = q.size(2), keys = k.size(2),
                dim = q.size(3);
  STRATA_CHECK(batch_heads <= 0x7fffffff, op, ": B * H = ", batch_heads, " exceeds the grid");
  // delta = rowsum(dO * O) [B * H * queries], the softmax backward's row term.
  Tensor delta = empty({batch_heads * queries}, {dtype_of<Acc>(), q.device()});
  const int64_t rows = batch_heads * queries;
  attention_delta_kernel<S><<<warp_row_blocks(rows, op), kThreads, 0, current_stream()>>>(
      heads_of<const S>(out), heads_of<const S>(grad_out), static_cast<Acc*>(delta.data_ptr()),
      static_cast<int>(q.size(1)), static_cast<int>(queries), static_cast<int>(dim), rows);
  STRATA_CUDA_CHECK(cudaGetLastError());
  if constexpr (is_16bit_float(dtype_of<S>())) {
    if (use_tensor_cores(q.dtype(), dim, {&q, &k, &v, &grad_out, &dq, &dk, &dv})) {
      using T = typename MmaType<S>::type;
      const BackwardArgs<T, float> args{heads_as<const T, const S>(q),
                                        heads_as<const T, const S>(k),
                                        heads_as<const T, const S>(v),
                                        heads_as<const T, const S>(grad_out),
                                        heads_as<T, S>(dq),
                                        heads_as<T, S>(dk),
                                        heads_as<T, S>(dv),
                                        static_cast<const float*>(logsumexp.data_ptr()),
                                        static_cast<const float*>(delta.data_ptr()),
                                        static_cast<int>(q.size(1)),
                                        static_cast<int>(queries),
                                        static_cast<int>(keys),
                                        static_cast<int>(dim),
                                        static_cast<float>(scale),
                                        causal};
      const auto grid_x = static_cast<unsigned>(batch_heads);
      with_head_dim(dim, [&](auto d) {
        constexpr int D = decltype(d)::value;
        constexpr int kStatsBytes = 4 * kTile * static_cast<int>(sizeof(float));
        launch_tiled(flash_backward_dkdv_kernel<T, D>, dim3(grid_x, tiles_of(keys, op)),
                     6 * Tile<D>::bytes + kStatsBytes, args);
        launch_tiled(flash_backward_dq_kernel<T, D>, dim3(grid_x, tiles_of(queries, op)),
                     6 * Tile<D>::bytes, args);
      });
      return;
    }
  }
  check_simt_dim(op, dim);
  const BackwardArgs<S, Acc> args{heads_of<const S>(q),
                                  heads_of<const S>(k),
                                  heads_of<const S>(v),
                                  heads_of<const S>(grad_out),
                                  heads_of<S>(dq),
                                  heads_of<S>(dk),
                                  heads_of<S>(dv),
                                  static_cast<const Acc*>(logsumexp.data_ptr()),
                                  static_cast<const Acc*>(delta.data_ptr()),
                                  static_cast<int>(q.size(1)),
                                  static_cast<int>(queries),
                                  static_cast<int>(keys),
                                  static_cast<int>(dim),
                                  static_cast<Acc>(scale),
                                  causal};
  simt_backward_dq_kernel<S>
      <<<warp_row_blocks(rows, op), kThreads, 0, current_stream()>>>(args, rows);
  STRATA_CUDA_CHECK(cudaGetLastError());
  const int64_t key_rows = batch_heads * keys;
  simt_backward_dkdv_kernel<S>
      <<<warp_row_blocks(key_rows, op), kThreads, 0, current_stream()>>>(args, key_rows);
  STRATA_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void flash_attention_kernel(const Tensor& out, const Tensor& logsumexp, const Tensor& q,
                            const Tensor& k, const Tensor& v, bool causal, double scale) {
  STRATA_DISPATCH_FLOATING(q.dtype(), "flash_attention", [&] {
    attention_forward<scalar_t>(out, logsumexp, q, k, v, causal, scale);
  });
}

void flash_attention_backward_kernel(const Tensor& dq, const Tensor& dk, const Tensor& dv,
                                     const Tensor& grad_out, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const Tensor& out, const Tensor& logsumexp,
                                     bool causal, double scale) {
  STRATA_DISPATCH_FLOATING(q.dtype(), "flash_attention_backward", [&] {
    attention_backward<scalar_t>(dq, dk, dv, grad_out, q, k, v, out, logsumexp, causal, scale);
  });
}

}  // namespace strata::cuda
