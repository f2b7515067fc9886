// Optimizer: parameter groups, per-parameter state (flat for flat groups), the fused and
// per-tensor update paths, zero_grad, and the state dict.
#include "optim/optimizer.hpp"

#include <algorithm>
#include <set>
#include <sstream>

#include "core/autograd_record.hpp"
#include "core/factories.hpp"

namespace strata::optim {
namespace {

// True when the tensors are contiguous views of one storage with one dtype, each starting where
// the one before ends: together they are one contiguous range.
bool adjacent(const std::vector<Tensor>& tensors) {
  if (tensors.empty() || !tensors[0].defined()) return false;
  int64_t next = tensors[0].offset();
  for (const Tensor& t : tensors) {
    if (!t.defined() || !t.is_contiguous() || !t.storage().is_same(tensors[0].storage()) ||
        t.dtype() != tensors[0].dtype() || t.offset() != next)
      return false;
    next += t.numel();
  }
  return true;
}

// The 1-D view [n] of the range that adjacent tensors cover.
Tensor range_view(const std::vector<Tensor>& tensors, int64_t n) {
  const Tensor& first = tensors[0];
  return Tensor(first.storage(), {n}, {1}, first.offset(), first.dtype());
}

// Where each tensor starts in the range they cover, then the range's size.
std::vector<int64_t> segments_of(const std::vector<Tensor>& tensors) {
  std::vector<int64_t> segments{0};
  for (const Tensor& t : tensors) segments.push_back(segments.back() + t.numel());
  return segments;
}

DType state_dtype(DType param) { return param == DType::f64 ? DType::f64 : DType::f32; }

std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params) grads.push_back(p.grad());
  return grads;
}

// Calls fn(name, field) for every option, in a fixed order (the state dict's names).
template <class Options, class Fn>
void visit_options(Options& o, Fn&& fn) {
  fn("lr", o.lr);
  fn("weight_decay", o.weight_decay);
  fn("betas.0", o.betas[0]);
  fn("betas.1", o.betas[1]);
  fn("eps", o.eps);
  fn("amsgrad", o.amsgrad);
  fn("momentum", o.momentum);
  fn("dampening", o.dampening);
  fn("nesterov", o.nesterov);
  fn("lr_decay", o.lr_decay);
  fn("initial_accumulator_value", o.initial_accumulator_value);
  fn("max_coeff", o.max_coeff);
  fn("min_coeff", o.min_coeff);
  fn("bias_correction", o.bias_correction);
}

std::string group_key(size_t group, const std::string& name) {
  return "param_groups." + std::to_string(group) + "." + name;
}
std::string state_key(int64_t index, const std::string& name) {
  return "state." + std::to_string(index) + "." + name;
}

}  // namespace

void Optimizer::require_non_negative(const char* option, double value) const {
  STRATA_CHECK(value >= 0, name(), ": ", option, " must be >= 0, got ", value);
}

void Optimizer::require_unit_interval(const char* option, double value) const {
  STRATA_CHECK(value >= 0 && value < 1, name(), ": ", option, " must be in [0, 1), got ", value);
}

ParamGroup& Optimizer::add_param_group(std::vector<Tensor> params) {
  return add_param_group(ParamGroup{std::move(params), defaults_});
}

ParamGroup& Optimizer::add_param_group(ParamGroup group) {
  check_options(group.options);
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    STRATA_CHECK(p.defined(), name(), ": parameter ", i, " of the new group is undefined");
    STRATA_CHECK(is_floating(p.dtype()), name(), ": parameter ", i, " of the new group has dtype ",
                 dtype_name(p.dtype()), "; optimizers update f32, f64, f16 or bf16 tensors");
    auto same = [&](const Tensor& q) { return q.is_same(p); };
    bool listed = std::any_of(group.params.begin(), group.params.begin() + i, same);
    for (const ParamGroup& other : param_groups_)
      listed = listed || std::any_of(other.params.begin(), other.params.end(), same);
    STRATA_CHECK(!listed, name(), ": parameter ", i, " of the new group (shape ",
                 shape_str(p.shape()), ") is already optimized: a parameter may appear once");
  }
  param_groups_.push_back(std::move(group));
  state_.emplace_back();
  return param_groups_.back();
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const ParamGroup& group : param_groups_) {
    if (set_to_none) {
      for (const Tensor& p : group.params) p.set_grad(Tensor());
      continue;
    }
    std::vector<Tensor> grads = grads_of(group.params);
    if (adjacent(grads)) {
      range_view(grads, segments_of(grads).back()).fill_(0);
      continue;
    }
    for (Tensor& g : grads)
      if (g.defined()) g.fill_(0);
  }
}

void Optimizer::ensure_state(int64_t g) {
  const ParamGroup& group = param_groups_[g];
  GroupState& st = state_[g];
  const std::vector<int64_t> segments = segments_of(group.params);
  if (!st.initialized) {
    st.initialized = true;
    st.flat = adjacent(group.params);
    st.params.assign(group.params.size(), ParamState{});
    bool sixteen_bit = !group.params.empty() && is_16bit_float(group.params[0].dtype());
    if (st.flat && sixteen_bit) {
      st.flat_master = range_view(group.params, segments.back()).to(DType::f32);
      for (size_t i = 0; i < group.params.size(); ++i)
        st.params[i].master = st.flat_master.narrow(0, segments[i], group.params[i].numel())
                                  .view(group.params[i].shape());
    } else if (!st.flat) {
      for (size_t i = 0; i < group.params.size(); ++i)
        if (is_16bit_float(group.params[i].dtype()))
          st.params[i].master = group.params[i].to(DType::f32).contiguous();
    }
  }
  // The state tensors these options need that are not there yet (options may change: amsgrad
  // switched on, momentum set by a schedule).
  for (const StateSpec& spec : state_specs(group.options)) {
    bool made = false;
    for (const std::string& name : st.names) made = made || name == spec.name;
    if (made) continue;
    st.names.push_back(spec.name);
    if (st.flat) {
      const Tensor& first = group.params[0];
      Tensor buffer =
          full({segments.back()}, spec.initial_value, {state_dtype(first.dtype()), first.device()});
      st.flat_tensors.push_back(buffer);
      for (size_t i = 0; i < group.params.size(); ++i)
        st.params[i].tensors.push_back(
            buffer.narrow(0, segments[i], group.params[i].numel()).view(group.params[i].shape()));
    } else {
      for (size_t i = 0; i < group.params.size(); ++i) {
        const Tensor& p = group.params[i];
        st.params[i].tensors.push_back(
            full(p.shape(), spec.initial_value, {state_dtype(p.dtype()), p.device()}));
      }
    }
  }
}

int64_t Optimizer::first_index(int64_t g) const {
  int64_t index = 0;
  for (int64_t i = 0; i < g; ++i) index += static_cast<int64_t>(param_groups_[i].params.size());
  return index;
}

UpdateRange Optimizer::fused_range(int64_t g) const {
  const ParamGroup& group = param_groups_[g];
  const GroupState& st = state_[g];
  if (!st.flat || !adjacent(group.params)) return {};
  std::vector<Tensor> grads = grads_of(group.params);
  if (!adjacent(grads)) return {};
  for (size_t i = 0; i < group.params.size(); ++i) {
    if (st.params[i].step != st.params[0].step) return {};
  }
  UpdateRange range;
  range.segments = segments_of(group.params);
  range.param = range_view(group.params, range.segments.back());
  range.grad = range_view(grads, range.segments.back());
  range.master = st.flat_master;
  for (const StateSpec& spec : state_specs(group.options))
    for (size_t k = 0; k < st.names.size(); ++k)
      if (st.names[k] == spec.name) range.states.push_back(st.flat_tensors[k]);
  range.step = st.params[0].step + 1;
  return range;
}

bool Optimizer::fused(int64_t g) const {
  STRATA_CHECK(g >= 0 && g < static_cast<int64_t>(param_groups_.size()), name(),
               "::fused: no parameter group ", g, " (the optimizer has ", param_groups_.size(),
               ")");
  if (!state_[g].initialized) {
    const ParamGroup& group = param_groups_[g];
    return adjacent(group.params) && adjacent(grads_of(group.params));
  }
  return fused_range(g).param.defined();
}

void Optimizer::step_group(int64_t g) {
  ensure_state(g);
  const ParamGroup& group = param_groups_[g];
  GroupState& st = state_[g];
  UpdateRange fused = fused_range(g);
  if (fused.param.defined()) {
    update(group.options, fused);
    for (ParamState& ps : st.params) ++ps.step;
    return;
  }
  const std::vector<StateSpec> specs = state_specs(group.options);
  for (size_t i = 0; i < group.params.size(); ++i) {
    Tensor param = group.params[i];
    Tensor grad = param.grad();
    if (!grad.defined()) continue;
    ParamState& ps = st.params[i];
    const int64_t n = param.numel();
    // A strided parameter is updated in a contiguous copy, then copied back.
    Tensor values = param.contiguous();
    UpdateRange range;
    range.param = values.view({n});
    range.grad = grad.contiguous().view({n});
    if (ps.master.defined()) range.master = ps.master.view({n});
    for (const StateSpec& spec : specs)
      for (size_t k = 0; k < st.names.size(); ++k)
        if (st.names[k] == spec.name) range.states.push_back(ps.tensors[k].view({n}));
    range.segments = {0, n};
    range.step = ps.step + 1;
    update(group.options, range);
    if (!values.is_same(param)) param.copy_(values);
    ++ps.step;
  }
}

void Optimizer::step() {
  autograd::NoGradGuard no_grad;
  for (int64_t g = 0; g < static_cast<int64_t>(param_groups_.size()); ++g) step_group(g);
}

int64_t Optimizer::state_bytes() const {
  int64_t bytes = 0;
  auto add = [&](const Tensor& t) {
    if (t.defined()) bytes += t.numel() * static_cast<int64_t>(element_size(t.dtype()));
  };
  for (const GroupState& st : state_) {
    if (st.flat) {
      add(st.flat_master);
      for (const Tensor& t : st.flat_tensors) add(t);
      continue;
    }
    for (const ParamState& ps : st.params) {
      add(ps.master);
      for (const Tensor& t : ps.tensors) add(t);
    }
  }
  return bytes;
}

StateDict Optimizer::state_dict() const {
  StateDict out;
  int64_t index = 0;
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const ParamGroup& group = param_groups_[g];
    const GroupState& st = state_[g];
    out.scalars[group_key(g, "size")] = static_cast<double>(group.params.size());
    visit_options(group.options, [&](const char* option, const auto& value) {
      out.scalars[group_key(g, option)] = static_cast<double>(value);
    });
    for (size_t i = 0; i < group.params.size(); ++i, ++index) {
      if (!st.initialized) continue;
      const ParamState& ps = st.params[i];
      out.scalars[state_key(index, "step")] = static_cast<double>(ps.step);
      if (ps.master.defined()) out.tensors[state_key(index, "master")] = ps.master.clone();
      for (size_t k = 0; k < st.names.size(); ++k)
        out.tensors[state_key(index, st.names[k])] = ps.tensors[k].clone();
    }
  }
  return out;
}

void Optimizer::load_state_dict(const StateDict& state) {
  autograd::NoGradGuard no_grad;
  const std::string where = std::string(name()) + "::load_state_dict: ";
  size_t groups = 0;
  while (state.scalars.count(group_key(groups, "size"))) ++groups;
  STRATA_CHECK(groups == param_groups_.size(), where, "the state has ", groups,
               " parameter groups, this optimizer ", param_groups_.size());
  for (size_t g = 0; g < groups; ++g) {
    double size = state.scalars.at(group_key(g, "size"));
    STRATA_CHECK(size == static_cast<double>(param_groups_[g].params.size()), where,
                 "parameter group ", g, " has ", size, " parameters in the state, ",
                 param_groups_[g].params.size(), " in this optimizer");
  }

  // Every key the state must hold, and every mismatch, before anything changes.
  std::set<std::string> expected;
  std::vector<std::string> missing, mismatched;
  auto expect_scalar = [&](const std::string& key) {
    expected.insert(key);
    if (!state.scalars.count(key)) missing.push_back(key);
  };
  auto expect_tensor = [&](const std::string& key, const Tensor& param) {
    expected.insert(key);
    auto it = state.tensors.find(key);
    if (it == state.tensors.end())
      missing.push_back(key);
    else if (it->second.shape() != param.shape())
      mismatched.push_back(key + " has shape " + shape_str(it->second.shape()) +
                           ", its parameter " + shape_str(param.shape()));
  };
  std::vector<GroupOptions> options(groups);
  std::vector<bool> has_state(groups, false);
  for (size_t g = 0; g < groups; ++g) {
    expected.insert(group_key(g, "size"));
    options[g] = param_groups_[g].options;
    visit_options(options[g], [&](const char* option, auto& value) {
      const std::string key = group_key(g, option);
      expect_scalar(key);
      auto it = state.scalars.find(key);
      if (it != state.scalars.end())
        value = static_cast<std::remove_reference_t<decltype(value)>>(it->second);
    });
    const int64_t first = first_index(static_cast<int64_t>(g));
    const std::vector<Tensor>& params = param_groups_[g].params;
    has_state[g] = !params.empty() && state.scalars.count(state_key(first, "step"));
    if (!has_state[g]) continue;
    const std::vector<StateSpec> specs = state_specs(options[g]);
    for (size_t i = 0; i < params.size(); ++i) {
      const int64_t index = first + static_cast<int64_t>(i);
      expect_scalar(state_key(index, "step"));
      if (is_16bit_float(params[i].dtype())) expect_tensor(state_key(index, "master"), params[i]);
      for (const StateSpec& spec : specs) expect_tensor(state_key(index, spec.name), params[i]);
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& [key, value] : state.scalars)
    if (!expected.count(key)) unexpected.push_back(key);
  for (const auto& [key, value] : state.tensors)
    if (!expected.count(key)) unexpected.push_back(key);
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::ostringstream message;
    message << where << "the state does not fit this optimizer's parameters";
    auto list = [&](const char* what, const std::vector<std::string>& keys) {
      if (keys.empty()) return;
      message << "; " << what << ":";
      for (const std::string& key : keys) message << " " << key;
    };
    list("missing keys", missing);
    list("unexpected keys", unexpected);
    list("mismatched shapes", mismatched);
    fail(message.str());
  }

  for (size_t g = 0; g < groups; ++g) {
    ParamGroup& group = param_groups_[g];
    group.options = options[g];
    state_[g] = GroupState{};
    if (!has_state[g]) continue;
    ensure_state(static_cast<int64_t>(g));
    GroupState& st = state_[g];
    const int64_t first = first_index(static_cast<int64_t>(g));
    for (size_t i = 0; i < group.params.size(); ++i) {
      const int64_t index = first + static_cast<int64_t>(i);
      ParamState& ps = st.params[i];
      ps.step = static_cast<int64_t>(state.scalars.at(state_key(index, "step")));
      if (ps.master.defined()) ps.master.copy_(state.tensors.at(state_key(index, "master")));
      for (size_t k = 0; k < st.names.size(); ++k)
        ps.tensors[k].copy_(state.tensors.at(state_key(index, st.names[k])));
    }
  }
}

}  // namespace strata::optim
