// Flat parameter and gradient buffers (flat_parameters.hpp).
#include "zero/flat_parameters.hpp"

#include <algorithm>

#include "core/autograd_record.hpp"
#include "core/error.hpp"
#include "core/factories.hpp"

namespace strata::zero {

namespace {

// Cuts `buffer`'s members into units and places them; `index` is the layout index of its first
// member over all buffers (UnitOptions::unit_starts counts in it).
void cut_units(FlatBuffer& buffer, size_t index, const UnitOptions& options) {
  BufferUnits& units = buffer.units;
  units.world = options.world;
  const int64_t grain = options.world * options.alignment;
  auto close = [&] {
    Unit& unit = units.units.back();
    const int64_t size = (unit.payload + grain - 1) / grain * grain;
    unit.slice = size / options.world;
    units.numel = unit.begin + size;
  };
  for (size_t i = 0; i < buffer.members.size(); ++i, ++index) {
    const int64_t n = buffer.members[i].numel();
    const bool forced = std::find(options.unit_starts.begin(), options.unit_starts.end(), index) !=
                        options.unit_starts.end();
    if (units.units.empty() || forced || units.units.back().payload + n > options.max_unit_numel) {
      if (!units.units.empty()) close();
      const int64_t compact_begin = units.units.empty() ? 0 : units.partition_numel();
      units.units.push_back(Unit{.begin = units.numel,
                                 .compact_begin = compact_begin,
                                 .first_member = i,
                                 .end_member = i});
    }
    Unit& unit = units.units.back();
    buffer.begins.push_back(unit.begin + unit.payload);
    unit.payload += n;
    unit.end_member = i + 1;
  }
  close();
}

}  // namespace

FlatParameters::FlatParameters(const std::vector<Tensor>& parameters)
    : FlatParameters(parameters, UnitOptions{}) {}

FlatParameters::FlatParameters(const std::vector<Tensor>& parameters, const UnitOptions& options,
                               bool flat_gradients, bool flat_params,
                               const std::function<Tensor(const Shape&, TensorOptions)>& allocate)
    : flat_gradients_(flat_gradients), flat_params_(flat_params) {
  STRATA_CHECK(options.world >= 1 && options.alignment >= 1,
               "FlatParameters: units need world >= 1 and alignment >= 1, got world ",
               options.world, " and alignment ", options.alignment);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i];
    STRATA_CHECK(p.defined() && is_floating(p.dtype()), "FlatParameters: parameter ", i,
                 " must be a defined floating tensor");
    STRATA_CHECK(p.device() == parameters[0].device(), "FlatParameters: parameter ", i, " is on ",
                 p.device().str(), ", parameter 0 on ", parameters[0].device().str(),
                 "; move the model to one device before initialize");
    FlatBuffer* buffer = nullptr;
    for (FlatBuffer& b : buffers_)
      if (b.members[0].dtype() == p.dtype()) buffer = &b;
    if (!buffer) buffer = &buffers_.emplace_back();
    for (const Tensor& m : buffer->members)
      STRATA_CHECK(!m.is_same(p), "FlatParameters: parameter ", i, " (shape ", shape_str(p.shape()),
                   ") is listed twice");
    buffer->members.push_back(p);
  }
  autograd::NoGradGuard no_grad;
  size_t index = 0;
  for (FlatBuffer& b : buffers_) {
    cut_units(b, index, options);
    index += b.members.size();
    const Tensor& first = b.members[0];
    const int64_t n = b.units.numel;
    // Padding is zero: ZeRO reduces and updates it with the rest of a unit, and it stays zero.
    auto make_zeros = [&](int64_t numel) {
      const TensorOptions buffer_options{first.dtype(), first.device()};
      if (!allocate) return zeros({numel}, buffer_options);
      Tensor buffer = allocate({numel}, buffer_options);
      buffer.fill_(0.0);
      return buffer;
    };
    b.params = flat_params_ ? make_zeros(n) : zeros({0}, {first.dtype(), first.device()});
    if (flat_gradients_) b.grads = make_zeros(n);
    for (size_t i = 0; i < b.members.size(); ++i) {
      const Tensor& p = b.members[i];
      if (flat_params_) {
        Tensor view = b.params.narrow(0, b.begins[i], p.numel()).view(p.shape());
        view.copy_(p);
        p.set_data(view);
      }
      p.set_grad(flat_gradients_ ? b.grads.narrow(0, b.begins[i], p.numel()).view(p.shape())
                                 : Tensor());
    }
  }
}

std::vector<Tensor> FlatParameters::grad_buffers() const {
  std::vector<Tensor> grads;
  for (const FlatBuffer& b : buffers_)
    if (b.grads.defined()) grads.push_back(b.grads);
  return grads;
}

std::vector<Tensor> FlatParameters::parameters() const {
  std::vector<Tensor> params;
  for (const FlatBuffer& b : buffers_)
    params.insert(params.end(), b.members.begin(), b.members.end());
  return params;
}

int64_t FlatParameters::numel() const {
  int64_t n = 0;
  for (const FlatBuffer& b : buffers_) n += b.units.numel;
  return n;
}

void FlatParameters::zero_grads() const {
  for (const FlatBuffer& b : buffers_)
    if (b.grads.defined()) Tensor(b.grads).fill_(0);
}

void FlatParameters::check_intact() const {
  for (const FlatBuffer& b : buffers_) {
    for (size_t i = 0; i < b.members.size(); ++i) {
      const Tensor& p = b.members[i];
      const Tensor g = p.grad();
      STRATA_CHECK(
          !flat_params_ || (p.storage().is_same(b.params.storage()) && p.offset() == b.begins[i]),
          "Engine: parameter ", i, " of the ", dtype_name(p.dtype()), " buffer (shape ",
          shape_str(p.shape()),
          ") no longer views the engine's flat buffer: do not move or convert the model "
          "after initialize");
      if (!flat_gradients_) continue;
      STRATA_CHECK(
          g.defined() && g.storage().is_same(b.grads.storage()) && g.offset() == b.begins[i],
          "Engine: the .grad of parameter ", i, " of the ", dtype_name(p.dtype()),
          " buffer (shape ", shape_str(p.shape()),
          ") was replaced: the engine zeroes gradients itself; do not call "
          "zero_grad() on the model or optimizer (or call zero_grad(false))");
    }
  }
}

}  // namespace strata::zero
