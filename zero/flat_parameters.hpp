// Flat parameter and gradient buffers (design decision 5), set up once by the engine: the
// parameters of each dtype are laid end to end in one contiguous buffer and become views of it
// (Tensor::set_data, so every handle and the autograd record stay valid), and their gradients are
// views of a second buffer with the same layout, set as each parameter's .grad once and zeroed in
// place after every step (never set to none). An optimizer whose groups list the parameters in
// layout order then sees flat groups and updates each with one fused kernel call; data-parallel
// buckets and ZeRO partitions are [begin, end) ranges of these buffers.
//
//   FlatParameters flat(parameters);   // in the optimizer's group order
//   loss.backward();                   // accumulates into flat.buffers()[0].grads
//   optimizer.step();                  // fused
//   flat.zero_grads();
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace strata::zero {

// One dtype's parameters, end to end.
struct FlatBuffer {
  Tensor params;                // [numel], the parameters' storage
  Tensor grads;                 // [numel], the gradients' storage, same layout
  std::vector<Tensor> members;  // the parameters, in layout order
  std::vector<int64_t> begins;  // where each member starts in the buffer
};

class FlatParameters {
 public:
  FlatParameters() = default;
  // Lays out `parameters` (each listed once, all on one device) in the order given, one buffer per
  // dtype in order of first appearance, and zeroes the gradients.
  explicit FlatParameters(const std::vector<Tensor>& parameters);

  const std::vector<FlatBuffer>& buffers() const { return buffers_; }
  // The gradient buffers, one per dtype.
  std::vector<Tensor> grad_buffers() const;
  // Every parameter, in layout order.
  std::vector<Tensor> parameters() const;
  int64_t numel() const;

  // Fills the gradient buffers with zeros (optimizer.zero_grad(false) semantics).
  void zero_grads() const;
  // Throws when a parameter no longer views its buffer or its .grad was replaced (a caller that
  // set .grad to none, or moved the model after initialize): the fused path would silently end.
  void check_intact() const;

 private:
  std::vector<FlatBuffer> buffers_;
};

}  // namespace strata::zero
