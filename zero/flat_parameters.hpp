// Flat parameter and gradient buffers (design decision 5), set up once by the engine: the
// parameters of each dtype are laid end to end in one contiguous buffer and become views of it
// (Tensor::set_data, so every handle and the autograd record stay valid), and their gradients are
// views of a second buffer with the same layout, set as each parameter's .grad once and zeroed in
// place after every step (never set to none). An optimizer whose groups list the parameters in
// layout order then sees flat groups and updates each with one fused kernel call.
//
// Each buffer is cut into units (zero/partition.hpp): the data-parallel buckets at stage 0, the
// grain of ZeRO's reduce-scatter, allgather and ownership at stages 1-3. Units are padded with
// zeros to their size (never at stage 0, whose units have world 1 and alignment 1), so a member's
// begin is not always the end of the member before it. ZeRO stage 2 keeps no flat gradient buffer
// (flat_gradients false): its gradients go from autograd's .grad to per-unit buckets.
//
//   FlatParameters flat(parameters);   // in the optimizer's group order
//   loss.backward();                   // accumulates into flat.buffers()[0].grads
//   optimizer.step();                  // fused
//   flat.zero_grads();
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/tensor.hpp"
#include "zero/partition.hpp"

namespace strata::zero {

// One dtype's parameters, end to end.
struct FlatBuffer {
  Tensor params;                // [units.numel], the parameters' storage, padding zero ([0] at
                                // stage 3)
  Tensor grads;                 // [units.numel], the gradients' storage, same layout (or none)
  std::vector<Tensor> members;  // the parameters, in layout order
  std::vector<int64_t> begins;  // where each member starts in the buffer
  BufferUnits units;            // the units the members are cut into
};

class FlatParameters {
 public:
  FlatParameters() = default;
  // Lays out `parameters` (each listed once, all on one device) in the order given, one buffer per
  // dtype in order of first appearance, and zeroes the gradients.
  // Units of world 1, alignment 1 and at most 500M elements: no padding.
  explicit FlatParameters(const std::vector<Tensor>& parameters);
  // The same, cut into units by `units`. Without `flat_gradients` there are no gradient buffers
  // and every parameter's .grad is set to none. Without `flat_params` (ZeRO stage 3) the
  // parameters are only laid out, not moved: params is an empty tensor of the buffer's dtype and
  // device, and zero/stage3_parameters.hpp gives each unit its own storage.
  // `allocate` makes the buffers (empty() when null): the engine passes its data-parallel group's
  // empty_symmetric, so that its collectives on them copy nothing (parallel/process_group.hpp).
  FlatParameters(const std::vector<Tensor>& parameters, const UnitOptions& units,
                 bool flat_gradients = true, bool flat_params = true,
                 const std::function<Tensor(const Shape&, TensorOptions)>& allocate = {});

  const std::vector<FlatBuffer>& buffers() const { return buffers_; }
  // The gradient buffers, one per dtype (none without flat gradients).
  std::vector<Tensor> grad_buffers() const;
  // Every parameter, in layout order.
  std::vector<Tensor> parameters() const;
  int64_t numel() const;

  // Fills the gradient buffers with zeros (optimizer.zero_grad(false) semantics).
  void zero_grads() const;
  // Throws when a parameter no longer views its buffer or (with flat gradients) its .grad was
  // replaced (a caller that set .grad to none, or moved the model after initialize): the fused
  // path would silently end.
  void check_intact() const;
  bool flat_gradients() const { return flat_gradients_; }
  bool flat_params() const { return flat_params_; }

 private:
  std::vector<FlatBuffer> buffers_;
  bool flat_gradients_ = true;
  bool flat_params_ = true;
};

}  // namespace strata::zero
