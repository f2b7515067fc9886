// Element types and the dispatch from a runtime DType to a C++ type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "core/half.hpp"

namespace strata {

enum class DType : uint8_t { f32, f64, f16, bf16, i32, i64, boolean };

inline constexpr DType kAllDTypes[] = {DType::f32, DType::f64, DType::f16,    DType::bf16,
                                       DType::i32, DType::i64, DType::boolean};

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::f64:
    case DType::i64: return 8;
    case DType::f32:
    case DType::i32: return 4;
    case DType::f16:
    case DType::bf16: return 2;
    case DType::boolean: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::boolean: return "bool";
  }
  return "?";
}

constexpr bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::f16 || t == DType::bf16;
}
constexpr bool is_16bit_float(DType t) { return t == DType::f16 || t == DType::bf16; }

// The type a kernel computes in for elements of type T: f32 for 16-bit floats, T otherwise.
template <class T>
struct compute_type {
  using type = T;
};
template <>
struct compute_type<Half> {
  using type = float;
};
template <>
struct compute_type<BFloat16> {
  using type = float;
};
template <class T>
using compute_t = typename compute_type<T>::type;

// The DType of a C++ element type.
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return DType::f32;
  else if constexpr (std::is_same_v<T, double>)
    return DType::f64;
  else if constexpr (std::is_same_v<T, Half>)
    return DType::f16;
  else if constexpr (std::is_same_v<T, BFloat16>)
    return DType::bf16;
  else if constexpr (std::is_same_v<T, int32_t>)
    return DType::i32;
  else if constexpr (std::is_same_v<T, int64_t>)
    return DType::i64;
  else {
    static_assert(std::is_same_v<T, bool>, "dtype_of: not a Strata element type");
    return DType::boolean;
  }
}

// The result type of combining two dtypes (numpy/PyTorch promotion without value-based rules):
// bool < integers < floats; f16 with bf16 promotes to f32.
constexpr DType promote_types(DType a, DType b) {
  if (a == b) return a;
  auto rank = [](DType t) {
    switch (t) {
      case DType::boolean: return 0;
      case DType::i32: return 1;
      case DType::i64: return 2;
      case DType::f16:
      case DType::bf16: return 3;
      case DType::f32: return 4;
      case DType::f64: return 5;
    }
    return 0;
  };
  if (is_16bit_float(a) && is_16bit_float(b)) return DType::f32;
  return rank(a) >= rank(b) ? a : b;
}

}  // namespace strata

// STRATA_DISPATCH_<SET>(dtype, op_name, [&] { ... scalar_t ... }) runs the lambda body with
// scalar_t bound to the C++ type of dtype, or throws naming op_name when dtype is outside SET.
#define STRATA_DTYPE_CASE(enum_value, cpp_type, ...) \
  case ::strata::DType::enum_value: {                \
    using scalar_t = cpp_type;                       \
    return __VA_ARGS__();                            \
  }

// The case groups the dispatch macros are built from.
#define STRATA_FLOATING_CASES(...)                    \
  STRATA_DTYPE_CASE(f32, float, __VA_ARGS__)          \
  STRATA_DTYPE_CASE(f64, double, __VA_ARGS__)         \
  STRATA_DTYPE_CASE(f16, ::strata::Half, __VA_ARGS__) \
  STRATA_DTYPE_CASE(bf16, ::strata::BFloat16, __VA_ARGS__)
#define STRATA_INTEGER_CASES(...)              \
  STRATA_DTYPE_CASE(i32, int32_t, __VA_ARGS__) \
  STRATA_DTYPE_CASE(i64, int64_t, __VA_ARGS__)

#define STRATA_DISPATCH_FLOATING(dtype, op_name, ...)                                         \
  [&] {                                                                                       \
    switch (dtype) {                                                                          \
      STRATA_FLOATING_CASES(__VA_ARGS__)                                                      \
      default:                                                                                \
        ::strata::fail(op_name, ": dtype ", ::strata::dtype_name(dtype),                      \
                       " is not supported; expected a floating dtype (f32, f64, f16, bf16)"); \
    }                                                                                         \
  }()

#define STRATA_DISPATCH_ALL(dtype, op_name, ...)    \
  [&] {                                             \
    switch (dtype) {                                \
      STRATA_FLOATING_CASES(__VA_ARGS__)            \
      STRATA_INTEGER_CASES(__VA_ARGS__)             \
      STRATA_DTYPE_CASE(boolean, bool, __VA_ARGS__) \
    }                                               \
    ::strata::fail(op_name, ": unknown dtype");     \
  }()

#define STRATA_DISPATCH_NUMERIC(dtype, op_name, ...)                              \
  [&] {                                                                           \
    switch (dtype) {                                                              \
      STRATA_FLOATING_CASES(__VA_ARGS__)                                          \
      STRATA_INTEGER_CASES(__VA_ARGS__)                                           \
      default:                                                                    \
        ::strata::fail(op_name, ": dtype ", ::strata::dtype_name(dtype),          \
                       " is not supported; expected a numeric dtype (not bool)"); \
    }                                                                             \
  }()
