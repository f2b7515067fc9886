// CUDA reduction kernels: one kernel for every reduction (reducers.hpp) and both layouts
// (reduce_kernels.hpp).
//
// A block is columns x rows threads (256 in all). Thread (tx, ty) owns output
// blockIdx.x * columns + tx and folds the elements ty, ty + rows, ... of its block's chunk of the
// reduced elements; the `rows` states are then merged by a tree in shared memory. Rows layout:
// columns = 1, so a warp reads 32 neighbouring elements of one row; columns layout: columns = 32,
// so a warp reads 32 neighbouring columns (short rows are laid out this way too). When the reduced
// elements are many, blockIdx.y splits them into chunks of a size set by the shape alone; each
// chunk leaves a partial state and a second kernel merges them per output. Every order is fixed
// by shapes, so results are deterministic.
#include <algorithm>

#include "core/cuda/cuda_check.hpp"
#include "core/dtype.hpp"
#include "core/reduce_kernels.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kFoldsPerThread = 16;  // elements a thread folds per chunk before splitting
constexpr int64_t kMaxChunks = 65535;    // gridDim.y limit

// Offset of kept index o (or reduced index r) in the input: multi-index over innermost-first dims.
__device__ inline int64_t offset_of(int64_t linear, int ndim, const int64_t* shape,
                                    const int64_t* stride) {
  int64_t offset = 0;
  for (int d = 0; d < ndim; ++d) {
    offset += (linear % shape[d]) * stride[d];
    linear /= shape[d];
  }
  return offset;
}

template <class T, class out_t, class R>
__global__ void reduce_chunks_kernel(ReduceGeometry g, R r, const T* in, out_t* values,
                                     int64_t* indices, typename R::state_t* partials,
                                     int64_t chunk) {
  using state_t = typename R::state_t;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  auto* shared = reinterpret_cast<state_t*>(shared_bytes);  // [blockDim.y][blockDim.x]
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + tx;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t end = begin + chunk < g.reduced ? begin + chunk : g.reduced;
  state_t s = R::identity();
  if (o < g.outputs) {
    const T* base = in + offset_of(o, g.kept_ndim, g.kept_shape, g.kept_stride);
    for (int64_t i = begin + ty; i < end; i += blockDim.y) {
      int64_t at = g.reduced_ndim == 1
                       ? i * g.reduced_stride[0]
                       : offset_of(i, g.reduced_ndim, g.reduced_shape, g.reduced_stride);
      r.update(s, convert<typename R::value_t>(base[at]), i);
    }
  }
  shared[ty * blockDim.x + tx] = s;
  __syncthreads();
  for (int width = blockDim.y / 2; width > 0; width /= 2) {
    if (ty < width) {
      shared[ty * blockDim.x + tx] =
          R::combine(shared[ty * blockDim.x + tx], shared[(ty + width) * blockDim.x + tx]);
    }
    __syncthreads();
  }
  if (ty != 0 || o >= g.outputs) return;
  if (gridDim.y == 1) {
    r.store(shared[tx], g.reduced, values, indices, o);
  } else {
    partials[o * gridDim.y + blockIdx.y] = shared[tx];
  }
}

// Merges each output's chunk states: one block per output, thread t folding its contiguous share
// of the chunks in order, then a tree in shared memory.
template <class out_t, class R>
__global__ void merge_chunks_kernel(int64_t chunks, int64_t count, R r,
                                    const typename R::state_t* partials, out_t* values,
                                    int64_t* indices) {
  using state_t = typename R::state_t;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  auto* shared = reinterpret_cast<state_t*>(shared_bytes);  // [blockDim.x]
  const int t = threadIdx.x;
  const int64_t o = blockIdx.x;
  const int64_t share = (chunks + blockDim.x - 1) / blockDim.x;
  const int64_t begin = t * share;
  const int64_t end = begin + share < chunks ? begin + share : chunks;
  state_t s = R::identity();
  for (int64_t c = begin; c < end; ++c) s = R::combine(s, partials[o * chunks + c]);
  shared[t] = s;
  __syncthreads();
  for (int width = blockDim.x / 2; width > 0; width /= 2) {
    if (t < width) shared[t] = R::combine(shared[t], shared[t + width]);
    __syncthreads();
  }
  if (t == 0) r.store(shared[0], count, values, indices, o);
}

template <class T, class out_t, class R>
void launch(const ReduceGeometry& g, const R& r, const Tensor& x, const Tensor& values,
            const Tensor& indices) {
  using state_t = typename R::state_t;
  const T* in = static_cast<const T*>(x.data_ptr());
  out_t* out = values.defined() ? static_cast<out_t*>(values.data_ptr()) : nullptr;
  int64_t* index = indices.defined() ? indices.data<int64_t>() : nullptr;
  // Short rows too take a thread per output, as their elements are too few for a block.
  const int columns = g.layout == ReduceGeometry::Layout::columns || g.reduced <= 32 ? 32 : 1;
  const int rows = kThreads / columns;
  // Chunk of reduced elements per block: by shape only, grown to keep within the grid limit.
  int64_t chunk =
      std::max<int64_t>(rows * kFoldsPerThread, (g.reduced + kMaxChunks - 1) / kMaxChunks);
  int64_t chunks = std::max<int64_t>(1, (g.reduced + chunk - 1) / chunk);
  dim3 grid(static_cast<unsigned>((g.outputs + columns - 1) / columns),
            static_cast<unsigned>(chunks));
  dim3 block(columns, rows);
  size_t shared = sizeof(state_t) * kThreads;
  Storage partials;
  if (chunks > 1) {
    partials = Storage(sizeof(state_t) * static_cast<size_t>(chunks * g.outputs), x.device());
  }
  auto* partial_states = static_cast<state_t*>(partials.data());
  reduce_chunks_kernel<T, out_t, R>
      <<<grid, block, shared, current_stream()>>>(g, r, in, out, index, partial_states, chunk);
  STRATA_CUDA_CHECK(cudaGetLastError());
  if (chunks > 1) {
    merge_chunks_kernel<out_t, R>
        <<<static_cast<unsigned>(g.outputs), kThreads, shared, current_stream()>>>(
            chunks, g.reduced, r, partial_states, out, index);
    STRATA_CUDA_CHECK(cudaGetLastError());
  }
}

}  // namespace

void reduce_kernel(const ReduceGeometry& geometry, ReduceOp op, double param, const Tensor& x,
                   const Tensor& values, const Tensor& indices) {
  STRATA_DISPATCH_ALL(x.dtype(), "reduce", [&] {
    visit_reducer<scalar_t>(op, param, [&](const auto& reducer, auto out_type) {
      using out_t = typename decltype(out_type)::type;
      launch<scalar_t, out_t>(geometry, reducer, x, values, indices);
    });
  });
}

}  // namespace strata::cuda
