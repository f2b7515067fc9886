// map_elements: out = fn(in...) element by element on the CPU, for operands of one (broadcast)
// shape with any strides and dtypes. The engine under every element-wise kernel.
//
// Rows come from for_each_row (cpu_loop.hpp), split across the thread pool. A row whose operands
// are all contiguous and stored in their compute type (f32, f64, i32, i64, bool) runs fn in one
// `omp simd` loop straight over memory. Any other row goes in blocks of kBlock elements through
// small stack buffers: f16/bf16 runs are widened to f32 in vector registers (half_vector.hpp),
// broadcast operands (stride 0) splatted, strided ones gathered; the same vector loop runs over the
// buffers, and the result is narrowed or scattered back. An op whose fast form scalar code cannot
// express runs a hand-vectorised VectorLoop instead of the `omp simd` loop. fn is a functor on
// compute values (core/elementwise_functors.hpp): the op is fixed at compile time, never switched
// per element.
//
// Include only from files compiled per ISA (strata_add_isa_kernels).
#pragma once

#ifndef STRATA_ISA
#error "core/cpu/elementwise_loop.hpp is for kernel files compiled per ISA (strata_add_isa_kernels)"
#endif

#include <tuple>
#include <type_traits>
#include <utility>

#include "core/cpu/cpu_loop.hpp"
#include "core/cpu/half_vector.hpp"
#include "core/dtype.hpp"

namespace strata::cpu::STRATA_ISA {

// Elements per block: the buffers of one row (at most 5 operands of 8 bytes) stay within 10 KiB.
inline constexpr int64_t kBlock = 256;

template <class T>
inline constexpr bool kStoredAsComputed = std::is_same_v<compute_t<T>, T>;

// n values of storage type T, `stride` bytes apart from p, as contiguous compute_t<T> values:
// p itself when it already holds them, else `buffer` filled with them.
template <class T>
const compute_t<T>* load_block(const char* p, int64_t stride, int64_t n, compute_t<T>* buffer) {
  const T* in = reinterpret_cast<const T*>(p);
  if (stride == static_cast<int64_t>(sizeof(T))) {
    if constexpr (kStoredAsComputed<T>) {
      return in;
    } else {
      convert_contiguous(in, buffer, n);
      return buffer;
    }
  }
  if (stride == 0) {
    compute_t<T> value = static_cast<compute_t<T>>(*in);
    for (int64_t i = 0; i < n; ++i) buffer[i] = value;
    return buffer;
  }
  for (int64_t i = 0; i < n; ++i)
    buffer[i] = static_cast<compute_t<T>>(*reinterpret_cast<const T*>(p + i * stride));
  return buffer;
}

// Writes n computed values to storage of type T, `stride` bytes apart from p.
template <class T>
void store_block(char* p, int64_t stride, int64_t n, const compute_t<T>* values) {
  if constexpr (!kStoredAsComputed<T>) {
    if (stride == static_cast<int64_t>(sizeof(T))) {
      convert_contiguous(values, reinterpret_cast<T*>(p), n);
      return;
    }
  }
  for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(p + i * stride) = T(values[i]);
}

// A block buffer left uninitialised (a user-provided constructor keeps value-initialisation from
// zeroing it on every row).
template <class T>
struct BlockBuffer {
  BlockBuffer() {}
  alignas(64) T values[kBlock];
};

// bool values travel through the vector loop as bytes: GCC does not vectorise loads of bool (nor
// selects on them), but does bytes compared with 0.
template <class T>
using Lane = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
template <class T>
[[gnu::always_inline]] inline T from_lane(Lane<T> value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value != 0;
  } else {
    return value;
  }
}

// out[i] = fn(in[i]...) for i < n over contiguous values: the loop that vectorises. The pointers
// are to lanes (Lane<InC>), converted to the compute types InC that fn takes.
template <class... InC, class Fn, class OutLane, class... InLane>
[[gnu::always_inline]] inline void apply_lanes(int64_t n, const Fn& fn, OutLane* __restrict out,
                                               const InLane* __restrict... in) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<OutLane>(fn(from_lane<InC>(in[i])...));
}

// A hand-vectorised loop for fn over contiguous runs, where fn's fast form needs instructions that
// a scalar function under `omp simd` cannot express (a table lookup by permutation): specialise
// VectorLoop<Fn, OutC, InC...> with `static void run(int64_t n, OutC* out, const InC*... in)`
// beside the kernels, before map_elements is instantiated for fn.
template <class Fn, class OutC, class... InC>
struct VectorLoop {
  static constexpr bool available = false;
};

template <class Fn, class OutC, class... InC>
[[gnu::always_inline]] inline void apply_contiguous(int64_t n, const Fn& fn, OutC* out,
                                                    const InC*... in) {
  if constexpr (VectorLoop<Fn, OutC, InC...>::available) {
    VectorLoop<Fn, OutC, InC...>::run(n, out, in...);
  } else {
    apply_lanes<InC...>(n, fn, reinterpret_cast<Lane<OutC>*>(out),
                        reinterpret_cast<const Lane<InC>*>(in)...);
  }
}

template <class Out, class... In, class Fn, size_t... I>
void map_row(char* const* ptrs, const int64_t* strides, int64_t n, const Fn& fn,
             std::index_sequence<I...>) {
  using OutC = compute_t<Out>;
  bool direct =
      kStoredAsComputed<Out> && strides[0] == static_cast<int64_t>(sizeof(Out)) &&
      ((kStoredAsComputed<In> && strides[I + 1] == static_cast<int64_t>(sizeof(In))) && ...);
  if (direct) {
    apply_contiguous(n, fn, reinterpret_cast<OutC*>(ptrs[0]),
                     reinterpret_cast<const compute_t<In>*>(ptrs[I + 1])...);
    return;
  }
  BlockBuffer<OutC> out_buffer;
  std::tuple<BlockBuffer<compute_t<In>>...> in_buffers;
  bool out_in_place = kStoredAsComputed<Out> && strides[0] == static_cast<int64_t>(sizeof(Out));
  for (int64_t start = 0; start < n; start += kBlock) {
    int64_t count = std::min(kBlock, n - start);
    char* out_start = ptrs[0] + start * strides[0];
    OutC* out = out_in_place ? reinterpret_cast<OutC*>(out_start) : out_buffer.values;
    apply_contiguous(count, fn, out,
                     load_block<In>(ptrs[I + 1] + start * strides[I + 1], strides[I + 1], count,
                                    std::get<I>(in_buffers).values)...);
    if (!out_in_place) store_block<Out>(out_start, strides[0], count, out);
  }
}

// out = fn(inputs...) element-wise. All operands have out's shape (expand inputs first); Out and
// In are their storage types, fn maps compute values to a compute value.
template <class Out, class... In, class Fn>
void map_elements(const Tensor& out, const std::array<const Tensor*, sizeof...(In)>& inputs,
                  const Fn& fn) {
  constexpr int N = 1 + sizeof...(In);
  if (out.numel() == 0) return;
  OperandLoop<N> operands = make_operand_loop<N>(out, inputs);
  for_each_row<N>(operands.loop, operands.base,
                  [&](char** ptrs, const int64_t* strides, int64_t n) {
                    map_row<Out, In...>(ptrs, strides, n, fn, std::index_sequence_for<In...>{});
                  });
}

}  // namespace strata::cpu::STRATA_ISA
