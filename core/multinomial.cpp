// multinomial: checks the request and the probabilities, reserves the stream slots the draw uses
// (core/random_kernels.hpp), and samples on the probabilities' device. Both devices use the same
// slots and sampling rule, so they draw the same classes. CPU probabilities are checked here;
// CUDA ones by the kernel, which reports a bad row at the next synchronisation rather than make
// every draw wait for the GPU.
#include <cmath>

#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/random_kernels.hpp"

namespace strata {
namespace {

// Throws unless every row of p [rows, classes] is finite, non-negative and has mass, and has at
// least `samples` classes with mass when drawing without replacement.
void check_probabilities(const Tensor& p, int64_t samples, bool replacement) {
  const int64_t rows = p.size(0), classes = p.size(1);
  const double* values = p.data<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0;
    int64_t positive = 0;
    for (int64_t c = 0; c < classes; ++c) {
      double v = values[r * classes + c];
      STRATA_CHECK(std::isfinite(v) && v >= 0, "multinomial: probability ", v, " at row ", r,
                   ", class ", c, " is invalid; expected finite non-negative values");
      total += v;
      positive += v > 0;
    }
    STRATA_CHECK(total > 0, "multinomial: row ", r, " has no probability mass (all zeros)");
    STRATA_CHECK(replacement || positive >= samples, "multinomial: row ", r, " has ", positive,
                 " classes with non-zero probability, fewer than the ", samples,
                 " samples requested without replacement");
  }
}

}  // namespace

Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator& gen) {
  STRATA_CHECK(probs.dim() == 1 || probs.dim() == 2,
               "multinomial: probs must be [C] or [N, C], got shape ", shape_str(probs.shape()));
  STRATA_CHECK(is_floating(probs.dtype()), "multinomial: dtype ", dtype_name(probs.dtype()),
               " is not supported; expected a floating dtype (f32, f64, f16, bf16)");
  const int64_t classes = probs.size(-1);
  STRATA_CHECK(classes > 0, "multinomial: probs of shape ", shape_str(probs.shape()),
               " has no classes");
  STRATA_CHECK(num_samples > 0, "multinomial: num_samples must be positive, got ", num_samples);
  STRATA_CHECK(replacement || num_samples <= classes, "multinomial: cannot draw ", num_samples,
               " samples without replacement from ", classes, " classes");
  static const KernelTable<void(const Tensor&, const Tensor&, bool, PhiloxState)> kernels{
      "multinomial", STRATA_CPU_KERNEL(multinomial_kernel), STRATA_CUDA_KERNEL(multinomial_kernel)};
  const Device device = probs.device();
  auto* kernel = kernels(device);
  Tensor p = probs.to({DType::f64, device}).contiguous().reshape({-1, classes});
  if (device.is_cpu()) check_probabilities(p, num_samples, replacement);
  const int64_t rows = p.size(0);
  Tensor out = empty({rows, num_samples}, {DType::i64, device});
  uint64_t per_row = static_cast<uint64_t>(replacement ? num_samples : classes);
  PhiloxState state = gen.draw(2 * per_row * static_cast<uint64_t>(rows));
  if (rows) kernel(out, p, replacement, state);
  return probs.dim() == 1 ? out.view({num_samples}) : out;
}

}  // namespace strata
