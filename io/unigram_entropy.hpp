// The unigram entropy of a token sequence: the loss per token of a model that knows only the
// token frequencies. A language model has learned something once its loss is clearly below it.
#pragma once

#include "core/tensor.hpp"

namespace strata::io {

struct Entropy {
  double nats;  // per token, comparable with a cross-entropy loss
  double bits;  // per token
};

// -sum_v p(v) log p(v) over the values v of an integer tensor (any shape), p the frequencies.
Entropy unigram_entropy(const Tensor& tokens);

}  // namespace strata::io
