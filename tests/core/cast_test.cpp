// Casts: round-to-nearest-even at ties, overflow to inf, NaN, subnormals and -0 for f16/bf16;
// the vectorised contiguous paths bit-identical to core/half.hpp (every 16-bit pattern, and many
// random and special f32 values); and every pair of dtypes on boundary values, against a
// reference that rounds the exact source value once (in long double, which holds every i64 and
// f64 value exactly). Large outputs stream (core/cpu/stream_store.hpp): the streamed path equals
// the plain one bit for bit.
#include <doctest/doctest.h>

#include <cfenv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "core/cpu/isa.hpp"
#include "core/factories.hpp"
#include "core/half.hpp"

using namespace strata;

namespace {

Tensor f32_from_bit_patterns(const std::vector<uint32_t>& bits) {
  return from_blob(bits.data(), {static_cast<int64_t>(bits.size())}, DType::f32);
}

// Raw 16-bit patterns of a contiguous-or-not f16/bf16 tensor.
std::vector<uint16_t> bits16(const Tensor& t) {
  Tensor c = t.to(Device::cpu()).contiguous();
  std::vector<uint16_t> out(static_cast<size_t>(c.numel()));
  std::memcpy(out.data(), c.data_ptr(), out.size() * 2);
  return out;
}

std::vector<uint32_t> bits32(const Tensor& t) {
  Tensor c = t.to(Device::cpu()).contiguous();
  std::vector<uint32_t> out(static_cast<size_t>(c.numel()));
  std::memcpy(out.data(), c.data_ptr(), out.size() * 4);
  return out;
}

// bf16 / f16 bits of each f32 value through Tensor::to, as contiguous vectors long enough for the
// vector path and (repeated at an odd length) its tail.
std::vector<uint16_t> cast16(const std::vector<float>& values, DType dtype) {
  return bits16(from_vector(values).to(dtype));
}

uint32_t f32_bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// ---- the reference for casts between all dtypes --------------------------------------------

struct Format {
  int mantissa_bits;  // stored fraction bits
  int min_exponent;   // exponent of the smallest normal
  int max_exponent;   // exponent of the largest finite
};
constexpr Format kF16{10, -14, 15}, kBF16{7, -126, 127}, kF32{23, -126, 127}, kF64{52, -1022, 1023};

// v rounded once, to nearest-even, into a binary format, with overflow to inf and gradual
// underflow; v itself is exact.
long double round_to_format(long double v, Format f) {
  if (std::isnan(v) || std::isinf(v) || v == 0) return v;
  long double a = std::fabs(v);
  int e;
  std::frexp(a, &e);  // a = m 2^e, m in [1/2, 1): leading bit at 2^(e - 1)
  int quantum = std::max(e - 1 - f.mantissa_bits, f.min_exponent - f.mantissa_bits);
  long double rounded = std::ldexp(std::nearbyint(std::ldexp(a, -quantum)), quantum);
  if (rounded >= std::ldexp(1.0L, f.max_exponent + 1)) rounded = INFINITY;
  return v < 0 ? -rounded : rounded;
}

struct Value {
  long double v;  // exact
  bool negative_zero = false;
};

// Exact value of element i of a contiguous CPU tensor.
long double exact_element(const Tensor& t, int64_t i) {
  const char* p = static_cast<const char*>(t.data_ptr()) + i * t.element_size();
  auto decode16 = [](uint16_t h, int mantissa_bits, int bias) -> long double {
    int exponent_bits = 15 - mantissa_bits;
    int exponent = (h >> mantissa_bits) & ((1 << exponent_bits) - 1);
    long double m = h & ((1 << mantissa_bits) - 1);
    long double sign = (h & 0x8000) ? -1 : 1;
    if (exponent == (1 << exponent_bits) - 1) return m != 0 ? NAN : sign * INFINITY;
    if (exponent == 0) return sign * std::ldexp(m, 1 - bias - mantissa_bits);
    return sign * std::ldexp(m + std::ldexp(1.0L, mantissa_bits), exponent - bias - mantissa_bits);
  };
  uint16_t h;
  switch (t.dtype()) {
    case DType::f32: return *reinterpret_cast<const float*>(p);
    case DType::f64: return *reinterpret_cast<const double*>(p);
    case DType::i32: return *reinterpret_cast<const int32_t*>(p);
    case DType::i64: return *reinterpret_cast<const int64_t*>(p);
    case DType::boolean: return *reinterpret_cast<const bool*>(p) ? 1 : 0;
    case DType::f16: std::memcpy(&h, p, 2); return decode16(h, 10, 15);
    case DType::bf16: std::memcpy(&h, p, 2); return decode16(h, 7, 127);
  }
  return 0;
}

// The expected cast of exact value v to dtype, or nothing when the cast is undefined (a float
// that is NaN, infinite or out of range converted to an integer).
std::optional<long double> expected_cast(long double v, DType to) {
  switch (to) {
    case DType::boolean: return (v != 0 || std::isnan(v)) ? 1 : 0;
    case DType::i32:
    case DType::i64: {
      long double limit = to == DType::i32 ? 2147483648.0L : 9223372036854775808.0L;
      if (!std::isfinite(v) || std::trunc(v) >= limit || std::trunc(v) < -limit) return {};
      return std::trunc(v);
    }
    case DType::f16: return round_to_format(v, kF16);
    case DType::bf16: return round_to_format(v, kBF16);
    case DType::f32: return round_to_format(v, kF32);
    case DType::f64: return round_to_format(v, kF64);
  }
  return {};
}

bool signbit_of_element(const Tensor& t, int64_t i) {
  if (!is_floating(t.dtype())) return false;
  // The sign bit is the top bit of the element's last byte (little-endian).
  const char* p = static_cast<const char*>(t.data_ptr()) + (i + 1) * t.element_size() - 1;
  return (*p & 0x80) != 0;
}

// Boundary values of each source dtype, as a tensor of that dtype.
Tensor boundary_values(DType dtype) {
  const float f_nan = std::numeric_limits<float>::quiet_NaN(), f_inf = INFINITY;
  switch (dtype) {
    case DType::boolean: {
      const uint8_t values[] = {0, 1, 1, 0};
      return from_blob(values, {4}, DType::boolean);
    }
    case DType::i32:
      return from_vector(std::vector<int32_t>{
          0, 1, -1, 127, 255, 256, 257, 2049, 2051, 65504, 65519, 65520, -65520, 16777217, 16777219,
          -16777217, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min()});
    case DType::i64:
      return from_vector(std::vector<int64_t>{
          0, -1, 2049, 65520, 16777217, (int64_t{1} << 24) + (int64_t{1} << 15) + 1,
          (int64_t{1} << 53) + 1, (int64_t{1} << 60) + (int64_t{1} << 52) + 1,
          -(int64_t{1} << 62) - 1, std::numeric_limits<int64_t>::max(),
          std::numeric_limits<int64_t>::min()});
    case DType::f32:
      return from_vector(std::vector<float>{0.0f,
                                            -0.0f,
                                            1.0f,
                                            -2.5f,
                                            3.75f,
                                            127.5f,
                                            -128.9f,
                                            1.00390625f,
                                            65519.0f,
                                            65520.0f,
                                            std::numeric_limits<float>::max(),
                                            std::numeric_limits<float>::min(),
                                            std::numeric_limits<float>::denorm_min(),
                                            1e-8f,
                                            2147483520.0f,
                                            -2147483648.0f,
                                            3e9f,
                                            f_nan,
                                            -f_nan,
                                            f_inf,
                                            -f_inf});
    case DType::f64:
      return from_vector(std::vector<double>{0.0,
                                             -0.0,
                                             0.5,
                                             -2.5,
                                             2.9999999999,
                                             1 + 0x1p-11 + 0x1p-40,
                                             1 + 0x1p-8 + 0x1p-45,
                                             65519.999,
                                             65520.0,
                                             1e300,
                                             -1e300,
                                             1e-320,
                                             5e-324,
                                             3.4028235677973366e38,
                                             2147483647.9,
                                             -2147483648.5,
                                             9.2e18,
                                             1e19,
                                             NAN,
                                             INFINITY,
                                             -INFINITY});
    case DType::f16: {
      const uint16_t bits[] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0x3c01, 0x7bff,
                               0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x7d00, 0xfe01, 0x5bff};
      return from_blob(bits, {15}, DType::f16);
    }
    case DType::bf16: {
      const uint16_t bits[] = {0x0000, 0x8000, 0x0001, 0x007f, 0x0080, 0x3f80, 0x3f81, 0x7f7f,
                               0xff7f, 0x7f80, 0xff80, 0x7fc0, 0x7fa0, 0xffc1, 0x4f00, 0xcf00};
      return from_blob(bits, {16}, DType::bf16);
    }
  }
  return {};
}

}  // namespace

TEST_CASE("f32 -> bf16 and f16 round to nearest even at ties") {
  // Between 1 and the next representable value (2^-7 for bf16, 2^-10 for f16): the tie goes to the
  // even neighbour, anything above the tie rounds up.
  std::vector<float> bf16_in = {1 + 0x1p-8f,    1 + 3 * 0x1p-8f,    1 + 0x1p-8f + 0x1p-20f,
                                -(1 + 0x1p-8f), -(1 + 3 * 0x1p-8f), 1 + 0x1p-8f - 0x1p-20f};
  std::vector<uint16_t> bf16_out = {0x3f80, 0x3f82, 0x3f81, 0xbf80, 0xbf82, 0x3f80};
  std::vector<float> f16_in = {1 + 0x1p-11f,    1 + 3 * 0x1p-11f,    1 + 0x1p-11f + 0x1p-20f,
                               -(1 + 0x1p-11f), -(1 + 3 * 0x1p-11f), 1 + 0x1p-11f - 0x1p-20f};
  std::vector<uint16_t> f16_out = {0x3c00, 0x3c02, 0x3c01, 0xbc00, 0xbc02, 0x3c00};
  // Repeat to 37 values so both the vector loop and its tail see every case.
  for (size_t k = 0; k < 37; ++k) {
    bf16_in.push_back(bf16_in[k % 6]), bf16_out.push_back(bf16_out[k % 6]);
    f16_in.push_back(f16_in[k % 6]), f16_out.push_back(f16_out[k % 6]);
  }
  CHECK(cast16(bf16_in, DType::bf16) == bf16_out);
  CHECK(cast16(f16_in, DType::f16) == f16_out);
}

TEST_CASE("f32 -> f16 and bf16 overflow to inf past the largest finite value") {
  std::vector<float> in = {65519.0f, 65520.0f, -65520.0f, 65504.0f, 1e10f, INFINITY, -INFINITY};
  CHECK(cast16(in, DType::f16) ==
        std::vector<uint16_t>{0x7bff, 0x7c00, 0xfc00, 0x7bff, 0x7c00, 0x7c00, 0xfc00});
  // bf16's largest finite is 0x7f7f; f32 values from its tie with 2^128 upwards become inf.
  std::vector<uint32_t> patterns = {0x7f7f0000, 0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0xff7f8000};
  CHECK(bits16(f32_from_bit_patterns(patterns).to(DType::bf16)) ==
        std::vector<uint16_t>{0x7f7f, 0x7f7f, 0x7f80, 0x7f80, 0xff80});
}

TEST_CASE("NaN stays NaN through f16 and bf16, keeping its sign") {
  // Quiet and signalling NaNs of both signs; a signalling NaN whose payload lies in the bits that
  // rounding drops must not become inf.
  std::vector<uint32_t> patterns = {0x7fc00000, 0xffc00000, 0x7f800001,
                                    0xff800001, 0x7fbfffff, 0x7fc01234};
  Tensor nan = f32_from_bit_patterns(patterns);
  for (DType dtype : {DType::f16, DType::bf16}) {
    CAPTURE(dtype_name(dtype));
    Tensor narrow = nan.to(dtype);
    std::vector<float> back = narrow.to(DType::f32).to_vector<float>();
    std::vector<uint16_t> bits = bits16(narrow);
    for (size_t i = 0; i < patterns.size(); ++i) {
      CHECK(std::isnan(back[i]));
      CHECK(std::signbit(back[i]) == ((patterns[i] >> 31) != 0));
    }
    CHECK(bits[2] == (dtype == DType::bf16 ? 0x7fc0 : 0x7e00));
  }
  CHECK(std::isnan(nan.to(DType::f64).to_vector<double>()[0]));
  CHECK(nan.to(DType::boolean).to_vector<int32_t>()[0] == 1);
}

TEST_CASE("subnormals convert exactly or round to nearest even, both ways") {
  // f32 -> bf16: the top 16 bits of an f32 subnormal are a bf16 subnormal; ties go to even.
  std::vector<uint32_t> f32_subnormals = {0x00010000, 0x00008000, 0x00018000,
                                          0x00000001, 0x007f0000, 0x807f8000};
  CHECK(bits16(f32_from_bit_patterns(f32_subnormals).to(DType::bf16)) ==
        std::vector<uint16_t>{0x0001, 0x0000, 0x0002, 0x0000, 0x007f, 0x8080});
  // bf16 subnormals widen exactly.
  const uint16_t bf16_subnormals[] = {0x0001, 0x007f, 0x8040};
  CHECK(bits32(from_blob(bf16_subnormals, {3}, DType::bf16).to(DType::f32)) ==
        std::vector<uint32_t>{0x00010000, 0x007f0000, 0x80400000});
  // f16 subnormals are multiples of 2^-24.
  std::vector<float> in = {0x1p-24f,        0x1p-25f, 3 * 0x1p-25f, 0x1p-25f + 0x1p-40f,
                           1023 * 0x1p-24f, 0x1p-14f, -0x1p-24f,    0x1p-26f};
  CHECK(cast16(in, DType::f16) ==
        std::vector<uint16_t>{0x0001, 0x0000, 0x0002, 0x0001, 0x03ff, 0x0400, 0x8001, 0x0000});
  const uint16_t f16_subnormals[] = {0x0001, 0x03ff, 0x8200};
  CHECK(from_blob(f16_subnormals, {3}, DType::f16).to(DType::f32).to_vector<float>() ==
        std::vector<float>{0x1p-24f, 1023 * 0x1p-24f, -512 * 0x1p-24f});
}

TEST_CASE("-0.0 keeps its sign through every float cast") {
  Tensor negative_zero = from_vector(std::vector<float>{-0.0f, -1e-30f});
  CHECK(bits16(negative_zero.to(DType::bf16))[0] == 0x8000);
  CHECK(bits16(negative_zero.to(DType::f16)) == std::vector<uint16_t>{0x8000, 0x8000});
  CHECK(std::signbit(negative_zero.to(DType::f16).to(DType::f64).to_vector<double>()[0]));
  CHECK(std::signbit(negative_zero.to(DType::bf16).to(DType::f32).to_vector<float>()[0]));
  CHECK(negative_zero.to(DType::i32).to_vector<int32_t>()[0] == 0);
  CHECK(negative_zero.to(DType::boolean).to_vector<int32_t>()[0] == 0);
}

TEST_CASE("contiguous f16/bf16 -> f32 equals half.hpp on every 16-bit pattern") {
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<uint16_t>(h);
  for (DType dtype : {DType::f16, DType::bf16}) {
    CAPTURE(dtype_name(dtype));
    Tensor source = from_blob(all.data(), {65536}, dtype);
    std::vector<uint32_t> got = bits32(source.to(DType::f32));
    int mismatches = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
      float expected = dtype == DType::f16 ? f32_from_f16_bits(static_cast<uint16_t>(h))
                                           : f32_from_bf16_bits(static_cast<uint16_t>(h));
      mismatches += got[h] != f32_bits_of(expected);
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("contiguous f32 -> f16/bf16 equals half.hpp on random and special values") {
  std::vector<uint32_t> patterns;
  // Every exponent with mantissas at and around the rounding boundaries of both formats.
  const uint32_t mantissas[] = {0,       1,      0x7fffff, 0x400000, 0x3fffff, 0x1000,
                                0x0fff,  0x1001, 0x2000,   0x3000,   0x8000,   0x7fff,
                                0x18000, 0xffff, 0x10000,  0x7fe000, 0x7ff000};
  for (uint32_t sign : {0u, 0x80000000u}) {
    for (uint32_t exponent = 0; exponent < 256; ++exponent) {
      for (uint32_t m : mantissas) patterns.push_back(sign | exponent << 23 | m);
    }
  }
  std::mt19937 rng(12345);
  for (int i = 0; i < 1 << 20; ++i) patterns.push_back(static_cast<uint32_t>(rng()));
  Tensor source = f32_from_bit_patterns(patterns);
  std::vector<uint16_t> bf16 = bits16(source.to(DType::bf16)), f16 = bits16(source.to(DType::f16));
  int bf16_mismatches = 0, f16_mismatches = 0;
  for (size_t i = 0; i < patterns.size(); ++i) {
    float f;
    std::memcpy(&f, &patterns[i], 4);
    bf16_mismatches += bf16[i] != bf16_bits_from_f32(f);
    f16_mismatches += f16[i] != f16_bits_from_f32(f);
  }
  CHECK(bf16_mismatches == 0);
  CHECK(f16_mismatches == 0);
  // Short and unaligned pieces exercise the masked tails.
  bool pieces_match = true;
  for (int64_t start = 0; start < 4; ++start) {
    for (int64_t length = 1; length <= 40; ++length) {
      Tensor piece = source.slice(0, start, start + length);
      std::vector<uint16_t> b = bits16(piece.to(DType::bf16)), h = bits16(piece.to(DType::f16));
      for (int64_t i = 0; i < length; ++i) {
        float f;
        std::memcpy(&f, &patterns[start + i], 4);
        pieces_match =
            pieces_match && b[i] == bf16_bits_from_f32(f) && h[i] == f16_bits_from_f32(f);
      }
    }
  }
  CHECK(pieces_match);
}

TEST_CASE("casts between all dtypes round boundary values once, contiguous and strided") {
  REQUIRE(std::fegetround() == FE_TONEAREST);
  for (DType from : kAllDTypes) {
    Tensor source = boundary_values(from);
    // The values twice over, once contiguous (vector paths) and once as a strided view.
    Tensor doubled = empty({source.numel(), 2}, {from});
    doubled.copy_(source.unsqueeze(1).expand({source.numel(), 2}));
    for (DType to : kAllDTypes) {
      CAPTURE(dtype_name(from));
      CAPTURE(dtype_name(to));
      for (const Tensor& input : {source, doubled.select(1, 1)}) {
        Tensor result = input.to(to).contiguous();
        Tensor exact_source = input.contiguous();
        for (int64_t i = 0; i < input.numel(); ++i) {
          long double v = exact_element(exact_source, i);
          std::optional<long double> expected = expected_cast(v, to);
          if (!expected) continue;
          long double got = exact_element(result, i);
          double source_value = static_cast<double>(v);
          CAPTURE(source_value);
          CAPTURE(i);
          if (std::isnan(*expected)) {
            CHECK(std::isnan(got));
          } else {
            CHECK(got == *expected);
            if (*expected == 0 && is_floating(from) && is_floating(to)) {
              CHECK(signbit_of_element(result, i) == signbit_of_element(exact_source, i));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("streamed copies and casts equal plain ones, bit for bit") {
  // Threshold 0 streams every contiguous output, INT64_MAX none. Offsets and odd lengths put the
  // ends of runs inside cache lines (written with plain stores around the streamed lines).
  std::vector<float> values(5000);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = std::ldexp(static_cast<float>(i % 97) - 48.25f, static_cast<int>(i % 29) - 14);
  }
  const Tensor all = from_vector(values);
  auto bytes = [](const Tensor& t) {
    Tensor c = t.contiguous();
    std::vector<uint8_t> out(c.nbytes());
    std::memcpy(out.data(), c.data_ptr(), out.size());
    return out;
  };
  auto results_with_stream_min_bytes = [&](int64_t min_bytes) {
    cpu::set_stream_min_bytes(min_bytes);
    std::vector<std::vector<uint8_t>> results;
    for (int64_t offset : {0, 1, 7}) {
      for (int64_t n : {1, 16, 37, 4099}) {
        Tensor src = all.narrow(0, offset, n);
        for (DType dtype : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
          Tensor converted = src.to(dtype);
          Tensor shifted = empty({n + 3}, {dtype}).narrow(0, 3, n);
          shifted.copy_(converted);
          results.push_back(bytes(converted));
          results.push_back(bytes(shifted));
          results.push_back(bytes(shifted.to(DType::f32)));
        }
      }
    }
    return results;
  };
  const int64_t threshold = cpu::stream_min_bytes();
  const auto streamed = results_with_stream_min_bytes(0);
  const auto plain = results_with_stream_min_bytes(std::numeric_limits<int64_t>::max());
  cpu::set_stream_min_bytes(threshold);
  REQUIRE(streamed.size() == plain.size());
  for (size_t i = 0; i < streamed.size(); ++i) CHECK_MESSAGE(streamed[i] == plain[i], "case ", i);
}
