// CPU reduction kernels, compiled per ISA: one loop structure per layout (reduce_kernels.hpp),
// parameterised by the reducer (reducers.hpp).
//
//   rows:    each output folds one contiguous run of the input. Element i goes to lane
//            i % kLanes (independent states the compiler keeps in vector registers); runs of
//            kRowLeaf elements are folded in order and merged pairwise, lane by lane, and the
//            lanes are merged at the end.
//   columns: outputs are contiguous columns of the input; a task keeps a block of column states
//            in L1 and folds the reduced rows into them one row at a time, vectorised across
//            the columns (each row's run is a stream the prefetchers follow); narrow columns of
//            dense rows take several rows per vector step. Runs of kColumnLeaf rows are folded
//            in order and merged pairwise.
//
// Pairwise merging keeps long f32 sums accurate. Threads split the outputs; when there are too
// few outputs for the threads, they split the reduced elements into fixed-size chunks instead,
// merged by the same tree (chunks are a power-of-two number of leaves and the tree splits at
// powers of two), so both ways give the same bits for any thread count.
#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include "core/cpu/half_vector.hpp"
#include "core/dtype.hpp"
#include "core/parallel.hpp"
#include "core/reduce_kernels.hpp"
#include "core/reducers.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

using namespace reducers;

constexpr int kLanes = 32;
constexpr int64_t kRowLeaf = 1024;                  // elements; a multiple of kLanes
constexpr int64_t kRowChunk = kRowLeaf * 64;        // elements per task when rows are few and long
constexpr int64_t kColumnRegs = 64;                 // columns per vector step
constexpr int64_t kColumnLeaf = 16;                 // rows
constexpr int64_t kColumnChunk = kColumnLeaf * 64;  // rows per task when columns are few
constexpr int64_t kGrain = 32768;  // input elements below which work stays on one thread

// Where a pairwise tree over n > leaf items splits: the largest leaf * 2^k below n.
int64_t tree_split(int64_t n, int64_t leaf) {
  int64_t m = leaf;
  while (2 * m < n) m *= 2;
  return m;
}

// Merges parts lo .. lo + count - 1 into part lo with merge(into, from), by the tree that
// tree_split gives for chunk-sized leaves.
template <class Merge>
void merge_tree(int64_t lo, int64_t count, const Merge& merge) {
  if (count <= 1) return;
  int64_t m = tree_split(count, 1);
  merge_tree(lo, m, merge);
  merge_tree(lo + m, count - m, merge);
  merge(lo, lo + m);
}

// Walks a multi-dim index space (innermost first), tracking the offset of the current index.
struct Walker {
  int ndim;
  const int64_t* shape;
  const int64_t* stride;
  int64_t index[kMaxReduceDims] = {};
  int64_t offset = 0;

  void seek(int64_t linear) {
    offset = 0;
    for (int d = 0; d < ndim; ++d) {
      index[d] = linear % shape[d];
      linear /= shape[d];
      offset += index[d] * stride[d];
    }
  }
  void next() {
    for (int d = 0; d < ndim; ++d) {
      offset += stride[d];
      if (++index[d] < shape[d]) return;
      offset -= shape[d] * stride[d];
      index[d] = 0;
    }
  }
};

template <class R, class T>
typename R::value_t load(T x) {
  return convert<typename R::value_t>(x);
}

// Converts n contiguous elements to the reducer's value type, 16-bit floats in vector registers.
template <class R, class T>
void load_run(const T* p, int64_t n, typename R::value_t* out) {
  constexpr bool is_16bit = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;
  if constexpr (is_16bit && std::is_same_v<typename R::value_t, float>) {
    convert_contiguous(p, out, n);
  } else {
    _Pragma("omp simd") for (int64_t j = 0; j < n; ++j) out[j] = load<R>(p[j]);
  }
}

// n contiguous elements as the reducer's value type: p itself when they already are, otherwise
// converted into buffer.
template <class R, class T>
const typename R::value_t* as_values(const T* p, int64_t n, typename R::value_t* buffer) {
  if constexpr (std::is_same_v<T, typename R::value_t>) {
    return p;
  } else {
    load_run<R>(p, n, buffer);
    return buffer;
  }
}

// ---- rows ---------------------------------------------------------------------------------------

template <class R>
struct Lanes {
  typename R::state_t s[kLanes];
};

template <class R>
void merge_lanes(Lanes<R>& into, const Lanes<R>& from) {
  for (int j = 0; j < kLanes; ++j) into.s[j] = R::combine(into.s[j], from.s[j]);
}

template <class R>
typename R::state_t fold_lanes(Lanes<R>& lanes) {
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lanes.s[j] = R::combine(lanes.s[j], lanes.s[j + width]);
  }
  return lanes.s[0];
}

// Folds row[begin, begin + n) into lanes; begin is a multiple of kRowLeaf.
template <class T, class R>
void fold_row(const R& r, const T* row, int64_t begin, int64_t n, Lanes<R>& lanes) {
  if (n > kRowLeaf) {
    int64_t m = tree_split(n, kRowLeaf);
    Lanes<R> right;
    fold_row(r, row, begin, m, lanes);
    fold_row(r, row, begin + m, n - m, right);
    merge_lanes(lanes, right);
    return;
  }
  Lanes<R> acc;  // a local copy the compiler can keep in registers
  for (int j = 0; j < kLanes; ++j) acc.s[j] = R::identity();
  const T* p = row + begin;
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    typename R::value_t buffer[kLanes];
    const typename R::value_t* v = as_values<R>(p + i, kLanes, buffer);
    _Pragma("omp simd") for (int j = 0; j < kLanes; ++j) r.update(acc.s[j], v[j], begin + i + j);
  }
  for (; i < n; ++i) r.update(acc.s[i % kLanes], load<R>(p[i]), begin + i);
  lanes = acc;
}

template <class T, class out_t, class R>
void reduce_rows(const ReduceGeometry& g, const R& r, const T* in, out_t* values,
                 int64_t* indices) {
  const int64_t n = g.reduced;
  Walker kept{g.kept_ndim, g.kept_shape, g.kept_stride};
  if (n >= 2 * kRowChunk && g.outputs < get_num_threads()) {
    // Few long rows: every row in fixed-size chunks across the threads.
    int64_t chunks = (n + kRowChunk - 1) / kRowChunk;
    std::vector<Lanes<R>> parts(static_cast<size_t>(chunks));
    for (int64_t o = 0; o < g.outputs; ++o) {
      kept.seek(o);
      const T* row = in + kept.offset;
      parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; ++c) {
          fold_row(r, row, c * kRowChunk, std::min(kRowChunk, n - c * kRowChunk), parts[c]);
        }
      });
      merge_tree(0, chunks,
                 [&](int64_t into, int64_t from) { merge_lanes(parts[into], parts[from]); });
      r.store(fold_lanes(parts[0]), n, values, indices, o);
    }
    return;
  }
  parallel_for(0, g.outputs, std::max<int64_t>(1, kGrain / std::max<int64_t>(n, 1)),
               [&](int64_t o0, int64_t o1) {
                 Walker rows = kept;
                 rows.seek(o0);
                 for (int64_t o = o0; o < o1; ++o, rows.next()) {
                   const T* row = in + rows.offset;
                   if (n < kLanes) {  // short rows: one state, in order
                     typename R::state_t s = R::identity();
                     for (int64_t i = 0; i < n; ++i) r.update(s, load<R>(row[i]), i);
                     r.store(s, n, values, indices, o);
                   } else {
                     Lanes<R> lanes;
                     fold_row(r, row, 0, n, lanes);
                     r.store(fold_lanes(lanes), n, values, indices, o);
                   }
                 }
               });
}

// ---- columns ------------------------------------------------------------------------------------

// Narrow columns whose rows follow each other in memory ([rows, width] dense, width <
// kColumnRegs): m rows at a time form one vector step, row q of each step folding into its own
// states, merged in order q = 0, 1, ... at the end. Folds rows [begin, begin + n) of the rows
// starting at `first` into states (already initialised) as far as whole steps go; returns the
// first row left.
template <class T, class R>
int64_t fold_narrow_rows(const R& r, const T* first, int64_t width, int64_t begin, int64_t n,
                         typename R::state_t* states) {
  const int64_t m = std::min(kColumnLeaf, kColumnRegs / width);
  const int64_t step = m * width;
  typename R::state_t acc[kColumnRegs];
  int64_t row_of[kColumnRegs];  // the row within a step of each lane
  for (int64_t j = 0; j < kColumnRegs; ++j) {
    acc[j] = R::identity();
    row_of[j] = j / width;
  }
  int64_t i = begin;
  for (const T* p = first; i + m <= begin + n; i += m, p += step) {
    typename R::value_t buffer[kColumnRegs];
    const typename R::value_t* v = as_values<R>(p, step, buffer);
    _Pragma("omp simd") for (int64_t j = 0; j < step; ++j) r.update(acc[j], v[j], i + row_of[j]);
  }
  for (int64_t q = 0; q < m; ++q) {
    for (int64_t k = 0; k < width; ++k) states[k] = R::combine(states[k], acc[q * width + k]);
  }
  return i;
}

// Folds reduced rows [begin, begin + n) of `width` contiguous columns at cols into states;
// begin is a multiple of kColumnLeaf. scratch holds `width` states per level of the merge tree
// below (column_tree_levels).
template <class T, class R>
void fold_columns(const R& r, const ReduceGeometry& g, const T* cols, int64_t width, int64_t begin,
                  int64_t n, typename R::state_t* states, typename R::state_t* scratch) {
  if (n > kColumnLeaf) {
    int64_t m = tree_split(n, kColumnLeaf);
    fold_columns(r, g, cols, width, begin, m, states, scratch);
    fold_columns(r, g, cols, width, begin + m, n - m, scratch, scratch + width);
    for (int64_t k = 0; k < width; ++k) states[k] = R::combine(states[k], scratch[k]);
    return;
  }
  // Leaf: row by row, each row's run of columns in order (a stream the prefetchers follow),
  // kColumnRegs columns per vector step; the states stay in L1.
  for (int64_t k = 0; k < width; ++k) states[k] = R::identity();
  Walker rows{g.reduced_ndim, g.reduced_shape, g.reduced_stride};
  rows.seek(begin);
  int64_t i = begin;
  if (width < kColumnRegs && g.reduced_ndim == 1 && g.reduced_stride[0] == width) {
    i = fold_narrow_rows(r, cols + rows.offset, width, begin, n, states);
    rows.seek(i);
  }
  for (; i < begin + n; ++i, rows.next()) {
    const T* row = cols + rows.offset;
    int64_t c0 = 0;
    for (; c0 + kColumnRegs <= width; c0 += kColumnRegs) {
      typename R::value_t buffer[kColumnRegs];
      const typename R::value_t* v = as_values<R>(row + c0, kColumnRegs, buffer);
      typename R::state_t* s = states + c0;
      _Pragma("omp simd") for (int64_t k = 0; k < kColumnRegs; ++k) r.update(s[k], v[k], i);
    }
    for (; c0 < width; ++c0) r.update(states[c0], load<R>(row[c0]), i);
  }
}

// Room for n states (not a vector: vector<bool> has no data()).
template <class R>
std::unique_ptr<typename R::state_t[]> state_buffer(int64_t n) {
  return std::make_unique<typename R::state_t[]>(static_cast<size_t>(n));
}

// Scratch levels fold_columns needs for n rows.
int64_t column_tree_levels(int64_t n) {
  int64_t levels = 1;
  for (int64_t leaves = kColumnLeaf; leaves < n; leaves *= 2) ++levels;
  return levels;
}

template <class T, class out_t, class R>
void reduce_columns(const ReduceGeometry& g, const R& r, const T* in, out_t* values,
                    int64_t* indices) {
  using state_t = typename R::state_t;
  const int64_t n = g.reduced;
  const int64_t columns = g.kept_shape[0];
  // Columns per task: 32 KiB of states (L1), long runs of each row for the prefetchers.
  const int64_t block = std::min<int64_t>(
      columns, std::max<int64_t>(1, 32768 / sizeof(state_t) / kColumnRegs) * kColumnRegs);
  const int64_t blocks = (columns + block - 1) / block;
  const int64_t groups = g.outputs / columns;  // outer kept index
  // The outer kept dims (all but the innermost), to find a group's first column.
  Walker outer{g.kept_ndim - 1, g.kept_shape + 1, g.kept_stride + 1};
  auto group_start = [&](int64_t group) {
    Walker w = outer;
    w.seek(group);
    return in + w.offset;
  };
  auto store_block = [&](const state_t* states, int64_t first_output, int64_t width) {
    for (int64_t k = 0; k < width; ++k) r.store(states[k], n, values, indices, first_output + k);
  };
  if (n >= 2 * kColumnChunk && groups * blocks < get_num_threads()) {
    // Few columns, many rows: the rows in fixed-size chunks across the threads.
    int64_t chunks = (n + kColumnChunk - 1) / kColumnChunk;
    auto parts = state_buffer<R>(chunks * columns);
    for (int64_t group = 0; group < groups; ++group) {
      const T* start = group_start(group);
      parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
        auto scratch = state_buffer<R>(block * column_tree_levels(kColumnChunk));
        for (int64_t c = c0; c < c1; ++c) {
          for (int64_t col = 0; col < columns; col += block) {
            fold_columns(r, g, start + col, std::min(block, columns - col), c * kColumnChunk,
                         std::min(kColumnChunk, n - c * kColumnChunk), &parts[c * columns + col],
                         scratch.get());
          }
        }
      });
      merge_tree(0, chunks, [&](int64_t into, int64_t from) {
        for (int64_t k = 0; k < columns; ++k) {
          parts[into * columns + k] =
              R::combine(parts[into * columns + k], parts[from * columns + k]);
        }
      });
      store_block(parts.get(), group * columns, columns);
    }
    return;
  }
  int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(n * block, 1));
  parallel_for(0, groups * blocks, grain, [&](int64_t u0, int64_t u1) {
    auto states = state_buffer<R>(block * (1 + column_tree_levels(n)));
    for (int64_t u = u0; u < u1; ++u) {
      int64_t group = u / blocks, col = (u % blocks) * block;
      int64_t width = std::min(block, columns - col);
      fold_columns(r, g, group_start(group) + col, width, 0, n, states.get(), states.get() + block);
      store_block(states.get(), group * columns + col, width);
    }
  });
}

// ---- dispatch -----------------------------------------------------------------------------------

template <class T, class out_t, class R>
void run(const ReduceGeometry& g, const R& r, const Tensor& x, const Tensor& values,
         const Tensor& indices) {
  const T* in = static_cast<const T*>(x.data_ptr());
  out_t* out = values.defined() ? static_cast<out_t*>(values.data_ptr()) : nullptr;
  int64_t* index = indices.defined() ? indices.data<int64_t>() : nullptr;
  if (g.layout == ReduceGeometry::Layout::rows) {
    reduce_rows<T, out_t>(g, r, in, out, index);
  } else {
    reduce_columns<T, out_t>(g, r, in, out, index);
  }
}

}  // namespace

void reduce_kernel(const ReduceGeometry& geometry, ReduceOp op, double param, const Tensor& x,
                   const Tensor& values, const Tensor& indices) {
  STRATA_DISPATCH_ALL(x.dtype(), "reduce", [&] {
    visit_reducer<scalar_t>(op, param, [&](const auto& reducer, auto out_type) {
      using out_t = typename decltype(out_type)::type;
      run<scalar_t, out_t>(geometry, reducer, x, values, indices);
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
