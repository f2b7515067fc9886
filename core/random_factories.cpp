// rand, randn and randint: check the request, reserve the stream slots the draw consumes from the
// generator (core/random_values.hpp says which slots each element takes), and fill on the device.
#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/random_kernels.hpp"
#include "core/random_values.hpp"

namespace strata {
namespace {

using FillKernel = void(const Tensor&, PhiloxState);

// A new floating tensor filled by the device's kernel from the generator's next slots: numel
// elements of one slot each (two for f64).
Tensor random_floats(const KernelTable<FillKernel>& kernels, const Shape& shape,
                     TensorOptions options, Generator& gen) {
  uint64_t slots = STRATA_DISPATCH_FLOATING(options.dtype, kernels.op,
                                            [&] { return uint64_t{kRandomSlots<scalar_t>}; });
  Tensor out = empty(shape, options);
  PhiloxState state = gen.draw(static_cast<uint64_t>(out.numel()) * slots);
  if (out.numel()) kernels(out.device())(out, state);
  return out;
}

}  // namespace

Tensor rand(const Shape& shape, TensorOptions options, Generator& gen) {
  static const KernelTable<FillKernel> kernels{"rand", STRATA_CPU_KERNEL(uniform_kernel),
                                               STRATA_CUDA_KERNEL(uniform_kernel)};
  return random_floats(kernels, shape, options, gen);
}

Tensor randn(const Shape& shape, TensorOptions options, Generator& gen) {
  static const KernelTable<FillKernel> kernels{"randn", STRATA_CPU_KERNEL(normal_kernel),
                                               STRATA_CUDA_KERNEL(normal_kernel)};
  return random_floats(kernels, shape, options, gen);
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
