// Parameter initialisation, as torch.nn.init: each fills a tensor in place (under NoGradGuard, so
// parameters that require grad can be filled) and returns it. Random fills draw from a Philox
// Generator (the default one unless given), so a seed fixes a model's initial weights.
#pragma once

#include <cstdint>

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace strata::nn::init {

Tensor normal_(Tensor tensor, double mean = 0.0, double std = 1.0,
               Generator& gen = default_generator());
Tensor uniform_(Tensor tensor, double low = 0.0, double high = 1.0,
                Generator& gen = default_generator());
// Normal(mean, std) restricted to [low, high]: values outside are redrawn until inside.
Tensor trunc_normal_(Tensor tensor, double mean = 0.0, double std = 1.0, double low = -2.0,
                     double high = 2.0, Generator& gen = default_generator());
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);

// The fans of a weight [out, in, k...]: fan_in = in * prod(k), fan_out = out * prod(k).
struct Fans {
  int64_t fan_in = 0;
  int64_t fan_out = 0;
};
Fans fans(const Tensor& tensor);

enum class FanMode { fan_in, fan_out };
// He et al.: uniform(-bound, bound) with bound = gain * sqrt(3 / fan), gain = sqrt(2 / (1 + a^2))
// (leaky ReLU of negative slope a; a = 0 is ReLU). Linear and Conv2d use a = sqrt(5), which gives
// bound = 1 / sqrt(fan_in) (libtorch's default).
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0, FanMode mode = FanMode::fan_in,
                        Generator& gen = default_generator());
// Glorot and Bengio: uniform(-bound, bound) with bound = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0, Generator& gen = default_generator());

}  // namespace strata::nn::init
