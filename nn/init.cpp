// Parameter initialisation: random values are drawn in f32 (f64 for f64 tensors; trunc_normal_
// redraws on the host in f64) and copied in, so a 16-bit tensor gets the rounded f32 draw.
#include "nn/init.hpp"

#include <cmath>
#include <vector>

#include "core/autograd_record.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "nn/construction_scope.hpp"

namespace strata::nn::init {

namespace {

TensorOptions draw_options(const Tensor& tensor) {
  STRATA_CHECK(is_floating(tensor.dtype()), "nn::init: cannot fill a tensor of dtype ",
               dtype_name(tensor.dtype()), " with random values; expected a floating dtype");
  return {tensor.dtype() == DType::f64 ? DType::f64 : DType::f32, tensor.device()};
}

// Every fill writes through write_parameter: a parameter partitioned at construction
// (nn/construction_scope.hpp) is materialised around the write.
Tensor fill_from(Tensor tensor, const Tensor& values) {
  autograd::NoGradGuard no_grad;
  write_parameter(tensor, [&] { tensor.copy_(values); });
  return tensor;
}

Tensor fill_with(Tensor tensor, double value) {
  autograd::NoGradGuard no_grad;
  write_parameter(tensor, [&] { tensor.fill_(value); });
  return tensor;
}

}  // namespace

Tensor normal_(Tensor tensor, double mean, double std, Generator& gen) {
  Tensor values = randn(tensor.shape(), draw_options(tensor), gen);
  // Large embeddings make each pass count: skip the ones that change nothing.
  if (std != 1) values = values * std;
  if (mean != 0) values = values + mean;
  return fill_from(tensor, values);
}

Tensor uniform_(Tensor tensor, double low, double high, Generator& gen) {
  return fill_from(tensor, rand(tensor.shape(), draw_options(tensor), gen) * (high - low) + low);
}

Tensor trunc_normal_(Tensor tensor, double mean, double std, double low, double high,
                     Generator& gen) {
  STRATA_CHECK(low < high && std > 0, "nn::init::trunc_normal_: expected low < high and std > 0, ",
               "got [", low, ", ", high, "] and std ", std);
  STRATA_CHECK((high - mean) / std > -4 && (low - mean) / std < 4, "nn::init::trunc_normal_: [",
               low, ", ", high, "] is more than 4 std from the mean ", mean,
               "; redrawing would take too long");
  draw_options(tensor);  // rejects a non-floating tensor
  std::vector<double> values(static_cast<size_t>(tensor.numel()));
  std::vector<size_t> pending(values.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  // Each round redraws the elements still outside [low, high], in element order: deterministic.
  while (!pending.empty()) {
    std::vector<double> draw =
        randn({static_cast<int64_t>(pending.size())}, DType::f64, gen).to_vector<double>();
    std::vector<size_t> outside;
    for (size_t j = 0; j < pending.size(); ++j) {
      double value = mean + std * draw[j];
      if (value >= low && value <= high) {
        values[pending[j]] = value;
      } else {
        outside.push_back(pending[j]);
      }
    }
    pending = std::move(outside);
  }
  return fill_from(tensor, from_vector(values, tensor.shape(), tensor.device()));
}

Tensor zeros_(Tensor tensor) { return fill_with(std::move(tensor), 0); }

Tensor ones_(Tensor tensor) { return fill_with(std::move(tensor), 1); }

Fans fans(const Tensor& tensor) {
  STRATA_CHECK(tensor.dim() >= 2, "nn::init: fan in and fan out need a weight of 2 or more dims ",
               "[out, in, kernel...], got shape ", shape_str(tensor.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive *= tensor.size(d);
  return {tensor.size(1) * receptive, tensor.size(0) * receptive};
}

Tensor kaiming_uniform_(Tensor tensor, double a, FanMode mode, Generator& gen) {
  Fans f = fans(tensor);
  const double fan = static_cast<double>(mode == FanMode::fan_in ? f.fan_in : f.fan_out);
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / fan);
  return uniform_(tensor, -bound, bound, gen);
}

Tensor xavier_uniform_(Tensor tensor, double gain, Generator& gen) {
  Fans f = fans(tensor);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(f.fan_in + f.fan_out));
  return uniform_(tensor, -bound, bound, gen);
}

}  // namespace strata::nn::init
