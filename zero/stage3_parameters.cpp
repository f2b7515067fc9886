// Stage3Parameters: partitioned parameters, gathered and released by module hooks.
#include "zero/stage3_parameters.hpp"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "autograd/engine.hpp"
#include "core/autograd_record.hpp"
#include "core/factories.hpp"
#include "zero/stage3_init.hpp"

namespace strata::zero {

// The units one module's forward needs: those of its own parameters and of its external ones.
struct Stage3Parameters::ModuleUnits {
  std::vector<size_t> units;
  nn::HookId pre_hook = 0, post_hook = 0;
  nn::Module* module = nullptr;
};

// A module's units acquired again in backward, held until no tensor saved for backward views
// them any more.
struct Stage3Parameters::Event {
  std::vector<size_t> units;
};

namespace {

std::vector<int64_t> unit_sizes(const std::vector<FlatBuffer>& buffers) {
  std::vector<int64_t> sizes;
  for (const FlatBuffer& buffer : buffers) {
    for (const Unit& unit : buffer.units.units) sizes.push_back(unit.slice * buffer.units.world);
  }
  return sizes;
}

// Writes rank `rank`'s part of `whole`, the full value of the parameter at flat elements
// [begin, begin + numel) of `unit`, into that rank's compact partition.
void write_own_slice(const Tensor& partition, const Unit& unit, int rank, int64_t begin,
                     const Tensor& whole) {
  const int64_t own_begin = unit.begin + rank * unit.slice, own_end = own_begin + unit.slice;
  const int64_t low = std::max(begin, own_begin), high = std::min(begin + whole.numel(), own_end);
  if (low >= high) return;
  partition.narrow(0, unit.compact_begin + low - own_begin, high - low)
      .copy_(whole.contiguous().flatten().narrow(0, low - begin, high - low));
}

// A copy of the parameter's values as rank 0 holds them: every rank starts from rank 0's model.
Tensor from_rank0(const Tensor& parameter, dist::ProcessGroup* group) {
  Tensor values = parameter.clone();
  if (group) group->broadcast(values, 0);
  return values;
}

}  // namespace

std::vector<size_t> stage3_unit_starts(nn::Module& model, const std::vector<Tensor>& parameters,
                                       int64_t persistence_threshold) {
  std::unordered_map<const autograd::Meta*, const nn::Module*> owner;
  for (auto& [name, module] : model.named_modules()) {
    for (const Tensor& parameter : module->parameters(/*recurse=*/false)) {
      owner.emplace(&parameter.ensure_autograd_meta(), module);
    }
  }
  // FlatParameters' layout: one buffer per dtype, in order of first appearance.
  std::vector<DType> dtypes;
  for (const Tensor& p : parameters) {
    if (std::find(dtypes.begin(), dtypes.end(), p.dtype()) == dtypes.end()) {
      dtypes.push_back(p.dtype());
    }
  }
  std::vector<size_t> starts;
  size_t index = 0;
  for (DType dtype : dtypes) {
    const Tensor* previous = nullptr;
    for (const Tensor& p : parameters) {
      if (p.dtype() != dtype) continue;
      const bool small = p.numel() < persistence_threshold;
      if (!previous ||
          owner[&p.ensure_autograd_meta()] != owner[&previous->ensure_autograd_meta()] ||
          small != (previous->numel() < persistence_threshold)) {
        starts.push_back(index);
      }
      previous = &p;
      ++index;
    }
  }
  return starts;
}

Stage3Parameters::Stage3Parameters(nn::Module& model, const FlatParameters& flat,
                                   std::shared_ptr<dist::ProcessGroup> group, Stage3Options options)
    : flat_(flat),
      group_(std::move(group)),
      world_(group_ ? group_->size() : 1),
      rank_(group_ ? group_->rank() : 0),
      schedule_(unit_sizes(flat_.buffers()), options.schedule),
      alive_(std::make_shared<bool>(true)) {
  autograd::NoGradGuard no_grad;
  STRATA_CHECK(!flat_.flat_params(), "Stage3Parameters: the flat parameters must be laid out ",
               "without flat parameter buffers (FlatParameters' flat_params false)");
  for (size_t b = 0; b < flat_.buffers().size(); ++b) {
    const FlatBuffer& buffer = flat_.buffers()[b];
    STRATA_CHECK(buffer.units.world == world_, "Stage3Parameters: buffer ", b, " has units for ",
                 buffer.units.world, " ranks, the group has ", world_);
    const TensorOptions options_b = buffer.members[0].options();
    partitions_.push_back(zeros({buffer.units.partition_numel()}, options_b));
    for (size_t i = 0; i < buffer.units.units.size(); ++i) {
      const Unit& unit = buffer.units.units[i];
      const int64_t size = unit.slice * world_;
      UnitState state{.buffer = b, .index = i, .gathered = empty({size}, options_b)};
      state.persistent = true;
      for (size_t m = unit.first_member; m < unit.end_member; ++m) {
        const Tensor& parameter = buffer.members[m];
        const int64_t begin = buffer.begins[m];
        state.persistent = state.persistent && parameter.numel() < options.persistence_threshold;
        // The parameter's values: its Stage3Init slices gathered, or rank 0's (both collective).
        Tensor whole = stage3_init_materialize(parameter);
        if (!whole.defined()) whole = from_rank0(parameter, group_.get());
        write_own_slice(partitions_[b], unit, rank_, begin, whole);
        parameter.set_data(state.gathered.narrow(0, begin - unit.begin, parameter.numel())
                               .view(parameter.shape()));
      }
      state.gathered.storage().release();
      state.idle_use_count = state.gathered.storage().use_count();
      units_.push_back(std::move(state));
    }
  }
  for (size_t u = 0; u < units_.size(); ++u) {
    if (units_[u].persistent) gather(u, /*wait=*/true);
  }
  install_hooks(model);
}

Stage3Parameters::~Stage3Parameters() {
  *alive_ = false;
  for (size_t u = 0; u < units_.size(); ++u) wait(u);
  for (auto& module : modules_) {
    module->module->remove_hook(module->pre_hook);
    module->module->remove_hook(module->post_hook);
  }
}

void Stage3Parameters::install_hooks(nn::Module& model) {
  // Which unit each parameter is in, by its autograd record (kept across set_data).
  std::unordered_map<const autograd::Meta*, size_t> unit_of;
  size_t u = 0;
  for (const FlatBuffer& buffer : flat_.buffers()) {
    for (const Unit& unit : buffer.units.units) {
      for (size_t m = unit.first_member; m < unit.end_member; ++m) {
        unit_of[&buffer.members[m].ensure_autograd_meta()] = u;
      }
      ++u;
    }
  }

  for (auto& [name, module] : model.named_modules()) {
    auto entry = std::make_unique<ModuleUnits>();
    entry->module = module;
    std::vector<Tensor> used = module->parameters(/*recurse=*/false);
    for (const Tensor& parameter : module->external_parameters()) used.push_back(parameter);
    for (const Tensor& parameter : used) {
      auto found = unit_of.find(parameter.autograd_meta().get());
      if (found != unit_of.end() && !units_[found->second].persistent) {
        entry->units.push_back(found->second);
      }
    }
    std::sort(entry->units.begin(), entry->units.end());
    entry->units.erase(std::unique(entry->units.begin(), entry->units.end()), entry->units.end());
    ModuleUnits* self = entry.get();
    if (module == &model) {
      // The root's calls delimit passes (enter_root / exit_root).
      entry->pre_hook = module->register_forward_pre_hook(
          [this](nn::Module&, const std::vector<Tensor>&) { enter_root(); });
      entry->post_hook =
          module->register_forward_hook([this](nn::Module&, const std::vector<Tensor>&,
                                               const Tensor& output) { exit_root(output); });
      root_units_ = self;
    } else if (!entry->units.empty()) {
      entry->pre_hook = module->register_forward_pre_hook(
          [this, self](nn::Module&, const std::vector<Tensor>&) { acquire(self->units); });
      entry->post_hook = module->register_forward_hook(
          [this, self](nn::Module&, const std::vector<Tensor>&, const Tensor& output) {
            leave(*self, output);
          });
    } else {
      continue;
    }
    modules_.push_back(std::move(entry));
  }
}

void Stage3Parameters::leave(ModuleUnits& module, const Tensor& output) {
  release(schedule_.release(module.units));
  if (!autograd::GradMode::enabled() || !output.defined() || !output.requires_grad()) return;
  // The gradient reaching the module's output: its backward nodes are about to run.
  autograd::register_hook(output, [alive = alive_, this, units = module.units](const Tensor&) {
    if (!*alive) return Tensor();
    release_finished_events();
    acquire(units);
    open_events_.push_back(std::make_shared<Event>(Event{units}));
    return Tensor();
  });
}

void Stage3Parameters::enter_root() {
  if (root_depth_++ > 0) return;
  // A forward starts a new pass (ending a training pass whose backward was not followed by
  // end_pass).
  end_pass();
  if (!root_units_->units.empty()) acquire(root_units_->units);
}

void Stage3Parameters::exit_root(const Tensor& output) {
  if (--root_depth_ > 0) return;
  if (!root_units_->units.empty()) leave(*root_units_, output);
  if (!autograd::GradMode::enabled()) end_pass();  // evaluation: a pass by itself
}

void Stage3Parameters::acquire(const std::vector<size_t>& units) {
  carry_out(schedule_.acquire(units, autograd::GradMode::enabled()));
  for (size_t unit : units) wait(unit);
}

void Stage3Parameters::carry_out(const Stage3Schedule::Plan& plan) {
  release(plan.release);
  for (size_t unit : plan.fetch) gather(unit, /*wait=*/false);
  for (size_t unit : plan.prefetch) gather(unit, /*wait=*/false);
}

void Stage3Parameters::gather(size_t u, bool wait_for_it) {
  UnitState& state = units_[u];
  const Unit& unit = flat_.buffers()[state.buffer].units.units[state.index];
  state.gathered.storage().allocate(state.gathered.nbytes());
  Tensor slice = partitions_[state.buffer].narrow(0, unit.compact_begin, unit.slice);
  if (group_) {
    state.work = group_->allgather_async(state.gathered, slice);
  } else {
    state.gathered.copy_(slice);
  }
  peak_gathered_numel_ = std::max(peak_gathered_numel_, gathered_numel());
  if (wait_for_it) wait(u);
}

void Stage3Parameters::wait(size_t u) {
  if (!units_[u].work) return;
  units_[u].work->wait();
  units_[u].work.reset();
}

void Stage3Parameters::release(const std::vector<size_t>& units) {
  for (size_t u : units) {
    wait(u);
    units_[u].gathered.storage().release();
  }
}

void Stage3Parameters::release_finished_events() {
  for (size_t i = 0; i < open_events_.size();) {
    const Event& event = *open_events_[i];
    bool finished = std::all_of(event.units.begin(), event.units.end(), [&](size_t u) {
      return units_[u].gathered.storage().use_count() <= units_[u].idle_use_count;
    });
    if (finished) {
      release(schedule_.release(event.units));
      open_events_.erase(open_events_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
}

void Stage3Parameters::end_pass() {
  open_events_.clear();
  for (size_t u = 0; u < units_.size(); ++u) wait(u);
  release(schedule_.end_pass());
}

void Stage3Parameters::refresh_persistent() {
  for (size_t u = 0; u < units_.size(); ++u) {
    if (units_[u].persistent) gather(u, /*wait=*/false);
  }
  for (size_t u = 0; u < units_.size(); ++u) wait(u);
}

int64_t Stage3Parameters::gathered_numel() const {
  int64_t numel = 0;
  for (const UnitState& state : units_) {
    if (state.gathered.storage().data()) numel += state.gathered.numel();
  }
  return numel;
}

int64_t Stage3Parameters::held_bytes() const {
  int64_t bytes = 0;
  for (const Tensor& partition : partitions_) bytes += static_cast<int64_t>(partition.nbytes());
  for (const UnitState& state : units_)
    bytes += static_cast<int64_t>(state.gathered.storage().nbytes());
  return bytes;
}

Tensor Stage3Parameters::gather_full(const Tensor& parameter) const {
  for (const UnitState& state : units_) {
    if (!parameter.storage().is_same(state.gathered.storage())) continue;
    const Unit& unit = flat_.buffers()[state.buffer].units.units[state.index];
    Tensor whole = empty({unit.slice * world_}, state.gathered.options());
    Tensor slice = partitions_[state.buffer].narrow(0, unit.compact_begin, unit.slice);
    if (group_) {
      group_->allgather(whole, slice);
    } else {
      whole.copy_(slice);
    }
    return Tensor(whole.storage(), parameter.shape(), parameter.strides(), parameter.offset(),
                  parameter.dtype())
        .clone();
  }
  fail("Stage3Parameters::gather_full: the tensor of shape ", shape_str(parameter.shape()),
       " is not a partitioned parameter (or a view of one)");
}

nn::OrderedDict<Tensor> Stage3Parameters::full_state_dict(const nn::Module& model) const {
  nn::OrderedDict<Tensor> dict;
  for (auto& [name, tensor] : model.state_dict()) {
    bool partitioned = std::any_of(units_.begin(), units_.end(), [&](const UnitState& state) {
      return tensor.storage().is_same(state.gathered.storage());
    });
    dict.insert(name, partitioned ? gather_full(tensor) : tensor.clone());
  }
  return dict;
}

void Stage3Parameters::load_full_state_dict(nn::Module& model,
                                            const nn::OrderedDict<Tensor>& dict) {
  autograd::NoGradGuard no_grad;
  for (auto& [name, tensor] : model.state_dict()) {
    const Tensor* whole = dict.find(name);
    STRATA_CHECK(whole, "Stage3Parameters::load_full_state_dict: the dict has no \"", name, "\"");
    STRATA_CHECK(whole->shape() == tensor.shape(), "Stage3Parameters::load_full_state_dict: \"",
                 name, "\" is ", shape_str(whole->shape()), " in the dict and ",
                 shape_str(tensor.shape()), " in the model");
    const Tensor value = whole->to(tensor.dtype());
    auto state = std::find_if(units_.begin(), units_.end(), [&](const UnitState& unit) {
      return tensor.storage().is_same(unit.gathered.storage());
    });
    if (state == units_.end()) {
      Tensor(tensor).copy_(value);  // a buffer, or a parameter that is not partitioned
      continue;
    }
    // A parameter views its unit's gathered buffer, which starts at the unit's first element.
    const Unit& unit = flat_.buffers()[state->buffer].units.units[state->index];
    write_own_slice(partitions_[state->buffer], unit, rank_, unit.begin + tensor.offset(), value);
  }
  refresh_persistent();
}

}  // namespace strata::zero
