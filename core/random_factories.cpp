// rand, randn and randint: check the request, reserve the stream slots the draw consumes from the
// generator (core/random_values.hpp says which slots each element takes), and fill on the device.
#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/random_kernels.hpp"
#include "core/random_values.hpp"

namespace strata {
namespace {

uint64_t slots_per_float(DType dtype) { return dtype == DType::f64 ? 2 : 1; }

void check_floating(const char* op, DType dtype) {
  STRATA_CHECK(is_floating(dtype), op, ": dtype ", dtype_name(dtype),
               " is not supported; expected a floating dtype (f32, f64, f16, bf16)");
}

}  // namespace

Tensor rand(const Shape& shape, TensorOptions options, Generator& gen) {
  static const KernelTable<void(const Tensor&, PhiloxState)> kernels{
      "rand", STRATA_CPU_KERNEL(uniform_kernel), STRATA_CUDA_KERNEL(uniform_kernel)};
  check_floating("rand", options.dtype);
  Tensor out = empty(shape, options);
  PhiloxState state = gen.draw(static_cast<uint64_t>(out.numel()) * slots_per_float(out.dtype()));
  if (out.numel()) kernels(out.device())(out, state);
  return out;
}

Tensor randn(const Shape& shape, TensorOptions options, Generator& gen) {
  static const KernelTable<void(const Tensor&, PhiloxState)> kernels{
      "randn", STRATA_CPU_KERNEL(normal_kernel), STRATA_CUDA_KERNEL(normal_kernel)};
  check_floating("randn", options.dtype);
  Tensor out = empty(shape, options);
  PhiloxState state = gen.draw(static_cast<uint64_t>(out.numel()) * slots_per_float(out.dtype()));
  if (out.numel()) kernels(out.device())(out, state);
  return out;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options,
               Generator& gen) {
  static const KernelTable<void(const Tensor&, PhiloxState, int64_t, uint64_t)> kernels{
      "randint", STRATA_CPU_KERNEL(randint_kernel), STRATA_CUDA_KERNEL(randint_kernel)};
  STRATA_CHECK(options.dtype == DType::i32 || options.dtype == DType::i64, "randint: dtype ",
               dtype_name(options.dtype),
               " is not supported; expected an integer dtype (i32, i64)");
  STRATA_CHECK(low < high, "randint: expected low < high, got the empty range [", low, ", ", high,
               ")");
  if (options.dtype == DType::i32) {
    STRATA_CHECK(low >= INT32_MIN && high - 1 <= INT32_MAX, "randint: range [", low, ", ", high,
                 ") does not fit dtype i32; use i64");
  }
  Tensor out = empty(shape, options);
  PhiloxState state = gen.draw(static_cast<uint64_t>(out.numel()) * kRandintSlots);
  uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  if (out.numel()) kernels(out.device())(out, state, low, range);
  return out;
}

}  // namespace strata
