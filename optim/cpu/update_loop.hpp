// The loop shared by the CPU optimizer kernels (compiled per ISA): the values of a range in compute
// precision, chunk by chunk. For f32/f64 parameters the chunk is the parameter itself; for f16/bf16
// it is the f32 master copy, rounded back into the parameter after the update. 16-bit gradients
// are converted into a stack buffer in vector registers (core/cpu/half_vector.hpp).
//
// Every element is computed by the same expression whatever its position, thread or vector lane
// (the kernels are compiled with -ffp-contract=off), which is what makes the fused path equal the
// per-tensor path bit for bit.
#pragma once

#include <algorithm>
#include <type_traits>

#include "core/cpu/half_vector.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "optim/update_kernels.hpp"

namespace strata::cpu::STRATA_ISA {

inline constexpr int64_t kUpdateGrain = 1 << 15;  // elements per thread at least
inline constexpr int64_t kUpdateChunk = 1024;     // elements converted at a time

// The raw pointers of a range with parameter (and gradient) type T and compute type C.
template <class C, class T>
struct RangePointers {
  explicit RangePointers(const optim::UpdateRange& range)
      : param(static_cast<T*>(range.param.data_ptr())),
        grad(static_cast<const T*>(range.grad.data_ptr())),
        master(range.master.defined() ? static_cast<C*>(range.master.data_ptr()) : nullptr) {}

  // The compute-precision values of [i, i + n): the master copy, or the parameter itself.
  C* values(int64_t i) const {
    if constexpr (std::is_same_v<T, C>)
      return param + i;
    else
      return master + i;
  }
  // The gradient of [i, i + n) in compute precision, converted into buffer when it must be.
  const C* gradient(int64_t i, int64_t n, C* buffer) const {
    if constexpr (std::is_same_v<T, C>) {
      return grad + i;
    } else {
      convert_contiguous(grad + i, buffer, n);
      return buffer;
    }
  }
  // Rounds the updated master values of [i, i + n) into the 16-bit parameter.
  void store(int64_t i, int64_t n) const {
    if constexpr (!std::is_same_v<T, C>) convert_contiguous(master + i, param + i, n);
  }

  T* param;
  const T* grad;
  C* master;
};

// The state tensor k of a range as C*.
template <class C>
C* state_data(const optim::UpdateRange& range, size_t k) {
  return static_cast<C*>(range.states[k].data_ptr());
}

// Calls fn(RangePointers<C, T>) for the range's dtype.
template <class Fn>
void dispatch_range(const optim::UpdateRange& range, const char* op, Fn&& fn) {
  switch (range.param.dtype()) {
    case DType::f32: return fn(RangePointers<float, float>(range));
    case DType::f64: return fn(RangePointers<double, double>(range));
    case DType::f16: return fn(RangePointers<float, Half>(range));
    case DType::bf16: return fn(RangePointers<float, BFloat16>(range));
    default: fail(op, ": no kernel for parameters of dtype ", dtype_name(range.param.dtype()));
  }
}

// Calls fn(std::true_type) or fn(std::false_type): a run-time switch made a compile-time one, so
// that loops keep no branches (which would stop them from vectorising).
template <class Fn>
void with_flag(bool flag, Fn&& fn) {
  if (flag)
    fn(std::true_type{});
  else
    fn(std::false_type{});
}

// Runs body(p, g, i, n) over the whole range split across the thread pool: p and g are the
// compute-precision values and gradient of elements [i, i + n) (p is updated in place; states are
// indexed from i).
template <class Body>
void for_each_update_chunk(const optim::UpdateRange& range, const char* op, Body&& body) {
  dispatch_range(range, op, [&](auto ptrs) {
    using C = std::remove_pointer_t<decltype(ptrs.values(0))>;
    parallel_for(0, range.param.numel(), kUpdateGrain, [&](int64_t begin, int64_t end) {
      alignas(64) C buffer[kUpdateChunk];
      for (int64_t i = begin; i < end; i += kUpdateChunk) {
        int64_t n = std::min(kUpdateChunk, end - i);
        body(ptrs.values(i), ptrs.gradient(i, n, buffer), i, n);
        ptrs.store(i, n);
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
