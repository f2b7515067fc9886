// CUDA gather / scatter / masked_fill / topk, the device-side index check, and the grouped
// index-add behind index_select_backward and embedding_backward. No kernel uses float atomics:
//   - scatter and scatter_add: owner computes. One thread per output element scans its line of
//     index in order, so the sum (or the last write) is the CPU's, in the CPU's order;
//   - index-add of a 1-D index: the (index, position) pairs are radix-sorted on the device (CUB,
//     stable), then one thread per output element sums its positions in ascending order, again
//     the CPU's order, so f32 results match the CPU bit for bit.
// Indices outside their bound are reported through core/cuda/device_error.hpp and skipped.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <bit>
#include <climits>
#include <type_traits>

#include "core/cuda/cuda_loop.cuh"
#include "core/cuda/device_error.hpp"
#include "core/factories.hpp"
#include "core/indexing_kernels.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t threads) {
  int64_t blocks = (threads + kThreads - 1) / kThreads;
  STRATA_CHECK(blocks <= INT_MAX, "CUDA indexing kernel: ", threads, " threads exceed one grid");
  return static_cast<unsigned>(blocks);
}

// Runs fn with an index_t of the index tensor's dtype (i32 or i64; checked by the front end).
template <class Fn>
void with_index_type(DType dtype, Fn&& fn) {
  if (dtype == DType::i32) {
    fn(int32_t{});
  } else {
    fn(int64_t{});
  }
}

// The lines along `dim` of up to three operands that agree in every other dim: line l's first
// element is at byte offset line_offset(l, i) of operand i. Dims are stored innermost first.
struct Lines {
  int ndim = 0;
  int64_t count = 1;
  int64_t shape[kMaxLoopDims] = {};
  int64_t strides[3][kMaxLoopDims] = {};  // bytes

  __device__ int64_t offset(int64_t line, int operand) const {
    int64_t at = 0;
    for (int d = 0; d < ndim; ++d) {
      at += (line % shape[d]) * strides[operand][d];
      line /= shape[d];
    }
    return at;
  }
};

Lines make_lines(const std::array<const Tensor*, 3>& operands, int64_t dim) {
  const Tensor& first = *operands[0];
  Lines lines;
  for (int64_t d = first.dim() - 1; d >= 0; --d) {
    if (d == dim || first.size(d) == 1) continue;
    STRATA_CHECK(lines.ndim < kMaxLoopDims, "CUDA indexing kernel: shape ",
                 shape_str(first.shape()), " has more than ", kMaxLoopDims, " dims");
    lines.shape[lines.ndim] = first.size(d);
    for (int i = 0; i < 3; ++i) {
      lines.strides[i][lines.ndim] =
          operands[i]->stride(d) * static_cast<int64_t>(operands[i]->element_size());
    }
    lines.count *= first.size(d);
    ++lines.ndim;
  }
  return lines;
}

int64_t byte_stride(const Tensor& t, int64_t dim) {
  return t.stride(dim) * static_cast<int64_t>(t.element_size());
}

char* bytes(const Tensor& t) { return static_cast<char*>(t.data_ptr()); }

// One element of gather: p = {out, index, x at coordinate 0 along dim}.
template <class T, class index_t>
struct GatherElement {
  int64_t x_step, bound;
  __device__ void operator()(char** p) const {
    int64_t i = *reinterpret_cast<const index_t*>(p[1]);
    if (i < 0 || i >= bound) return;  // reported by check_index_range
    *reinterpret_cast<T*>(p[0]) = *reinterpret_cast<const T*>(p[2] + i * x_step);
  }
};

template <class index_t>
__global__ void check_range_kernel(const index_t* index, int64_t n, int64_t bound,
                                   DeviceError* slot, const char* op, const char* what) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int64_t v = index[i];
  if (v < 0 || v >= bound) report_out_of_range(slot, op, what, v, i, bound);
}

// out[line, t] = the sum (accumulate) or the last write of src[line, j] over the j in [0, length)
// with index[line, j] == t, in j order; untouched when no j matches. One thread per (line, t).
template <class T, class index_t>
__global__ void scatter_owner_kernel(Lines lines, char* out, const char* index, const char* src,
                                     int64_t out_length, int64_t length, int64_t out_step,
                                     int64_t index_step, int64_t src_step, bool accumulate) {
  int64_t linear = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (linear >= lines.count * out_length) return;
  const int64_t t = linear % out_length, line = linear / out_length;
  T* dst = reinterpret_cast<T*>(out + lines.offset(line, 0) + t * out_step);
  const char* index_line = index + lines.offset(line, 1);
  const char* src_line = src + lines.offset(line, 2);
  auto src_at = [src_line, src_step](int64_t j) {
    return *reinterpret_cast<const T*>(src_line + j * src_step);
  };
  using acc_t = compute_t<T>;
  acc_t sum = convert<acc_t>(*dst);
  int64_t last = -1;
  for (int64_t j = 0; j < length; ++j) {
    if (static_cast<int64_t>(*reinterpret_cast<const index_t*>(index_line + j * index_step)) != t) {
      continue;
    }
    if constexpr (!std::is_same_v<T, bool>) {
      if (accumulate) sum += convert<acc_t>(src_at(j));
    }
    last = j;
  }
  if (last < 0) return;
  *dst = accumulate ? convert<T>(sum) : src_at(last);
}

// keys[k] = index[k] where it lies in [0, bound), else bound (sorted past every group);
// positions[k] = k.
template <class index_t>
__global__ void index_keys_kernel(const index_t* index, int64_t n, int64_t bound, uint64_t* keys,
                                  int64_t* positions) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= n) return;
  int64_t v = index[k];
  keys[k] = static_cast<uint64_t>(v >= 0 && v < bound ? v : bound);
  positions[k] = k;
}

// group_start[v] = the first k with sorted_keys[k] >= v, for v in [0, bound]. Thread k in [0, n]
// fills the v in (sorted_keys[k - 1], sorted_keys[k]] (with -1 before the first key and bound
// after the last): these intervals cover [0, bound] once.
__global__ void group_starts_kernel(const uint64_t* sorted_keys, int64_t n, int64_t bound,
                                    int64_t* group_start) {
  int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k > n) return;
  int64_t previous = k > 0 ? static_cast<int64_t>(sorted_keys[k - 1]) : -1;
  int64_t current = k < n ? static_cast<int64_t>(sorted_keys[k]) : bound;
  for (int64_t v = previous + 1; v <= current; ++v) group_start[v] = k;
}

// out [outer, bound, inner] = the sum of grad [outer, n, inner] rows positions[group_start[v] ..
// group_start[v + 1]) at v, in that (ascending) order. One thread per output element.
template <class T>
__global__ void sum_groups_kernel(T* out, const T* grad, const int64_t* group_start,
                                  const int64_t* positions, int64_t outer, int64_t bound, int64_t n,
                                  int64_t inner) {
  int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= outer * bound * inner) return;
  const int64_t c = e % inner, v = (e / inner) % bound, o = e / (inner * bound);
  const T* grad_plane = grad + o * n * inner + c;
  compute_t<T> sum = 0;
  for (int64_t k = group_start[v]; k < group_start[v + 1]; ++k) {
    sum += static_cast<compute_t<T>>(grad_plane[positions[k] * inner]);
  }
  out[e] = convert<T>(sum);
}

// An element of a topk line and the order the CPU kernel sorts by: value (NaN above everything),
// ties to the lower position. index < 0 marks "none", after everything.
template <class V>
struct Candidate {
  V value;
  int64_t index;
};

template <class V>
__device__ bool is_nan_value(V v) {
  if constexpr (std::is_floating_point_v<V>) {
    return isnan(v);
  } else {
    return false;
  }
}

template <class V>
__device__ bool comes_before(const Candidate<V>& a, const Candidate<V>& b, bool largest) {
  if (a.index < 0) return false;
  if (b.index < 0) return true;
  bool a_nan = is_nan_value(a.value), b_nan = is_nan_value(b.value);
  if (a_nan != b_nan) return largest ? a_nan : b_nan;
  if (!a_nan && a.value != b.value) return largest ? a.value > b.value : a.value < b.value;
  return a.index < b.index;
}

template <class V>
struct FirstInOrder {
  bool largest;
  __device__ Candidate<V> operator()(const Candidate<V>& a, const Candidate<V>& b) const {
    return comes_before(b, a, largest) ? b : a;
  }
};

// One block per line of x along dim: k rounds, each picking the first element (in the order
// above) strictly after the previous round's pick, so picks come out sorted and need no marks.
// Unsorted results are the k picks in position order: a block-wide compaction of the elements up
// to the k-th pick.
template <class T>
__global__ void topk_kernel(Lines lines, char* values, char* indices, const char* x, int64_t n,
                            int64_t k, int64_t values_step, int64_t indices_step, int64_t x_step,
                            bool largest, bool sorted) {
  using V = compute_t<T>;
  using Reduce = cub::BlockReduce<Candidate<V>, kThreads>;
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ union {
    typename Reduce::TempStorage reduce;
    typename Scan::TempStorage scan;
  } temp;
  __shared__ Candidate<V> picked;
  const int64_t line = blockIdx.x;
  char* values_line = values + lines.offset(line, 0);
  char* indices_line = indices + lines.offset(line, 1);
  const char* x_line = x + lines.offset(line, 2);
  auto load = [&](int64_t j) {
    return Candidate<V>{static_cast<V>(*reinterpret_cast<const T*>(x_line + j * x_step)), j};
  };
  Candidate<V> previous{V(), -1};
  for (int64_t s = 0; s < k; ++s) {
    Candidate<V> best{V(), -1};
    for (int64_t j = threadIdx.x; j < n; j += kThreads) {
      Candidate<V> c = load(j);
      if ((previous.index < 0 || comes_before(previous, c, largest)) &&
          comes_before(c, best, largest)) {
        best = c;
      }
    }
    best = Reduce(temp.reduce).Reduce(best, FirstInOrder<V>{largest});
    if (threadIdx.x == 0) {
      picked = best;
      if (sorted) {
        *reinterpret_cast<T*>(values_line + s * values_step) = convert<T>(best.value);
        *reinterpret_cast<int64_t*>(indices_line + s * indices_step) = best.index;
      }
    }
    __syncthreads();
    previous = picked;
    __syncthreads();  // every thread has read `picked` before round s + 1 overwrites it
  }
  if (sorted) return;
  // previous is now the k-th pick: an element is picked iff it is not after it.
  int64_t written = 0;
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t j = base + threadIdx.x;
    Candidate<V> c{V(), -1};
    int flag = 0;
    if (j < n) {
      c = load(j);
      flag = c.index == previous.index || comes_before(c, previous, largest);
    }
    int slot = 0, total = 0;
    Scan(temp.scan).ExclusiveSum(flag, slot, total);
    if (flag) {
      *reinterpret_cast<T*>(values_line + (written + slot) * values_step) = convert<T>(c.value);
      *reinterpret_cast<int64_t*>(indices_line + (written + slot) * indices_step) = c.index;
    }
    written += total;
    __syncthreads();  // before the scan storage is reused
  }
}

}  // namespace

void check_index_range(const char* op, const char* what, const Tensor& index, int64_t bound) {
  if (index.numel() == 0) return;
  Tensor flat = index.contiguous();
  with_index_type(flat.dtype(), [&](auto tag) {
    using index_t = decltype(tag);
    check_range_kernel<<<blocks_for(flat.numel()), kThreads, 0, current_stream()>>>(
        static_cast<const index_t*>(flat.data_ptr()), flat.numel(), bound, device_error_slot(), op,
        what);
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void gather_kernel(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  if (out.numel() == 0) return;
  // x seen with out's shape, standing still along dim: the kernel adds index * x_step.
  Shape strides = x.strides();
  strides[dim] = 0;
  Tensor x_rows(x.storage(), out.shape(), strides, x.offset(), x.dtype());
  const int64_t x_step = byte_stride(x, dim), bound = x.size(dim);
  auto loop = make_strided_loop<3>({&out, &index, &x_rows});
  std::array<char*, 3> base = {bytes(out), bytes(index), bytes(x_rows)};
  STRATA_DISPATCH_ALL(out.dtype(), "gather", [&] {
    with_index_type(index.dtype(), [&](auto tag) {
      launch_elementwise<3>(loop, base, GatherElement<scalar_t, decltype(tag)>{x_step, bound});
    });
  });
}

void scatter_kernel(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src,
                    bool accumulate) {
  if (src.numel() == 0 || out.numel() == 0) return;
  Lines lines = make_lines({&out, &index, &src}, dim);
  const int64_t out_length = out.size(dim), length = src.size(dim);
  STRATA_DISPATCH_ALL(out.dtype(), "scatter", [&] {
    with_index_type(index.dtype(), [&](auto tag) {
      using index_t = decltype(tag);
      scatter_owner_kernel<scalar_t, index_t>
          <<<blocks_for(lines.count * out_length), kThreads, 0, current_stream()>>>(
              lines, bytes(out), bytes(index), bytes(src), out_length, length,
              byte_stride(out, dim), byte_stride(index, dim), byte_stride(src, dim), accumulate);
      STRATA_CUDA_CHECK(cudaGetLastError());
    });
  });
}

void index_add_grouped_kernel(const char* op, const char* what, const Tensor& out,
                              const Tensor& grad, const Tensor& index) {
  const int64_t outer = out.size(0), bound = out.size(1), inner = out.size(2), n = index.numel();
  if (out.numel() == 0) return;
  STRATA_CHECK(n < INT_MAX, op, ": ", n, " indices exceed the device sort's limit of ", INT_MAX);
  check_index_range(op, what, index, bound);
  const TensorOptions i64{DType::i64, out.device()};
  // Key and position buffers, unsorted then sorted, and the group starts.
  Tensor keys = empty({2, n}, i64), positions = empty({2, n}, i64);
  Tensor group_start = empty({bound + 1}, i64);
  auto* keys_in = static_cast<uint64_t*>(keys.data_ptr());
  uint64_t* keys_out = keys_in + n;
  auto* positions_in = static_cast<int64_t*>(positions.data_ptr());
  int64_t* positions_out = positions_in + n;
  if (n > 0) {
    Tensor flat = index.contiguous();
    with_index_type(flat.dtype(), [&](auto tag) {
      using index_t = decltype(tag);
      index_keys_kernel<<<blocks_for(n), kThreads, 0, current_stream()>>>(
          static_cast<const index_t*>(flat.data_ptr()), n, bound, keys_in, positions_in);
      STRATA_CUDA_CHECK(cudaGetLastError());
    });
    // Keys lie in [0, bound]: sort only the bits that can differ. Radix sort is stable, so equal
    // keys keep their positions ascending.
    const int end_bit = std::max(1, static_cast<int>(std::bit_width(static_cast<uint64_t>(bound))));
    size_t temp_bytes = 0;
    STRATA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        nullptr, temp_bytes, keys_in, keys_out, positions_in, positions_out, static_cast<int>(n), 0,
        end_bit, current_stream()));
    // At least one element: a null temp pointer would make the call below a size query again.
    Tensor temp = empty({std::max<int64_t>(1, static_cast<int64_t>((temp_bytes + 7) / 8))}, i64);
    STRATA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
        temp.data_ptr(), temp_bytes, keys_in, keys_out, positions_in, positions_out,
        static_cast<int>(n), 0, end_bit, current_stream()));
  }
  group_starts_kernel<<<blocks_for(n + 1), kThreads, 0, current_stream()>>>(
      keys_out, n, bound, static_cast<int64_t*>(group_start.data_ptr()));
  STRATA_CUDA_CHECK(cudaGetLastError());
  STRATA_DISPATCH_NUMERIC(out.dtype(), op, [&] {
    sum_groups_kernel<<<blocks_for(out.numel()), kThreads, 0, current_stream()>>>(
        static_cast<scalar_t*>(out.data_ptr()), static_cast<const scalar_t*>(grad.data_ptr()),
        static_cast<const int64_t*>(group_start.data_ptr()), positions_out, outer, bound, n, inner);
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

void masked_fill_kernel(const Tensor& out, const Tensor& x, const Tensor& mask, double value) {
  if (out.numel() == 0) return;
  auto loop = make_strided_loop<3>({&out, &x, &mask});
  std::array<char*, 3> base = {bytes(out), bytes(x), bytes(mask)};
  STRATA_DISPATCH_ALL(out.dtype(), "masked_fill", [&] {
    const scalar_t fill = convert<scalar_t>(value);
    launch_elementwise<3>(loop, base, [fill] __device__(char** p) {
      *reinterpret_cast<scalar_t*>(p[0]) =
          *reinterpret_cast<const bool*>(p[2]) ? fill : *reinterpret_cast<const scalar_t*>(p[1]);
    });
  });
}

void topk_kernel(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim,
                 bool largest, bool sorted) {
  if (values.numel() == 0) return;
  Lines lines = make_lines({&values, &indices, &x}, dim);
  STRATA_CHECK(lines.count <= INT_MAX, "topk: ", lines.count, " lines exceed one CUDA grid");
  STRATA_DISPATCH_NUMERIC(x.dtype(), "topk", [&] {
    topk_kernel<scalar_t><<<static_cast<unsigned>(lines.count), kThreads, 0, current_stream()>>>(
        lines, bytes(values), bytes(indices), bytes(x), x.size(dim), values.size(dim),
        byte_stride(values, dim), byte_stride(indices, dim), byte_stride(x, dim), largest, sorted);
    STRATA_CUDA_CHECK(cudaGetLastError());
  });
}

}  // namespace strata::cuda
