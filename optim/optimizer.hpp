// Optimizer: the base of every optimizer, over parameter groups, in libtorch's shape.
//
// The words of optim/, defined once:
// - parameter group: some parameters and the hyper-parameters they are updated with (lr, betas,
//   ...). Schedules and users change a group's options between steps.
// - state: what an optimizer keeps per parameter between steps (Adam's exp_avg and exp_avg_sq,
//   SGD's momentum_buffer, ...), in f32 (f64 for f64 parameters), plus the step count.
// - master copy: the f32 values of an f16/bf16 parameter. The update runs on the master copy; the
//   parameter receives it rounded to nearest-even, so small updates are not lost to rounding.
// - flat group: a group whose parameters are adjacent views of one buffer (in group order, as the
//   engine lays them out, design decision 5). Its states and master copy are flat buffers with the
//   same layout, and when the gradients are adjacent views of one buffer too, step() updates the
//   whole group with one kernel call (the fused path). The results equal those of the per-tensor
//   path bit for bit.
//
// step() runs under NoGradGuard. A parameter whose .grad is undefined is skipped, as in PyTorch.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "optim/update_kernels.hpp"

namespace strata::optim {

// The hyper-parameters of one group. One record serves every optimizer; each reads the fields it
// documents and keeps the others as they are. Optimizers are built from their own options structs
// (SGDOptions, AdamOptions, ...), which carry PyTorch's defaults.
struct GroupOptions {
  double lr = 1e-3;
  double weight_decay = 0.0;
  std::array<double, 2> betas = {0.9, 0.999};  // Adam, AdamW, LAMB (OneCycle cycles betas[0])
  double eps = 1e-8;                           // Adam, AdamW, LAMB, Adagrad
  bool amsgrad = false;                        // Adam, AdamW
  double momentum = 0.0;                       // SGD
  double dampening = 0.0;                      // SGD
  bool nesterov = false;                       // SGD
  double lr_decay = 0.0;                       // Adagrad
  double initial_accumulator_value = 0.0;      // Adagrad
  double max_coeff = 10.0;                     // LAMB: trust ratio clamps
  double min_coeff = 0.01;                     // LAMB
  bool bias_correction = true;                 // LAMB
};

struct ParamGroup {
  std::vector<Tensor> params;
  GroupOptions options;
};

// An optimizer's (or a schedule's) state as named tensors and named scalars: what a checkpoint
// writes as safetensors plus JSON. Names: "param_groups.<g>.<option>" and "param_groups.<g>.size"
// (scalars), "state.<i>.step" (scalar) and "state.<i>.<state name>" (tensors shaped like parameter
// i), where i counts the parameters of all groups in order, as PyTorch numbers them.
struct StateDict {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, double> scalars;
};

// A state tensor an optimizer keeps per parameter, and the value it starts from.
struct StateSpec {
  std::string name;
  double initial_value = 0.0;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter that has a gradient, under NoGradGuard.
  void step();
  // Drops every gradient (set_to_none), or fills it with zeros (which keeps .grad a view into a
  // flat gradient buffer).
  void zero_grad(bool set_to_none = true);

  // Adds a group with the optimizer's default options, and returns it to adjust them.
  ParamGroup& add_param_group(std::vector<Tensor> params);
  // Adds a group with options of its own (start from defaults() and change what differs).
  ParamGroup& add_param_group(ParamGroup group);
  std::vector<ParamGroup>& param_groups() { return param_groups_; }
  const std::vector<ParamGroup>& param_groups() const { return param_groups_; }
  // The options the optimizer was built with: what add_param_group(params) gives a new group.
  const GroupOptions& defaults() const { return defaults_; }

  // "SGD", "Adam", ...
  virtual const char* name() const = 0;
  // True for the optimizers with betas (Adam, AdamW, LAMB): OneCycle cycles betas[0] of those.
  virtual bool has_betas() const { return false; }
  // True when step() updates group `group` with one kernel call over its flat buffer.
  bool fused(int64_t group) const;

  // Bytes held for states and master copies (memory accounting).
  int64_t state_bytes() const;

  StateDict state_dict() const;
  // Restores options, steps, states and master copies. Throws, naming every key, when the group
  // count or sizes differ, keys are missing or unexpected, or a tensor's shape differs from its
  // parameter's.
  void load_state_dict(const StateDict& state);

 protected:
  explicit Optimizer(GroupOptions defaults) : defaults_(defaults) {}
  // The states of a group with these options, in the order update() receives them.
  virtual std::vector<StateSpec> state_specs(const GroupOptions& options) const = 0;
  // Throws naming the option when options are invalid (negative lr, beta outside [0, 1), ...).
  virtual void check_options(const GroupOptions& options) const = 0;
  // Updates one range with the group's options (dispatches to the device's kernel).
  virtual void update(const GroupOptions& options, const UpdateRange& range) const = 0;
  // For check_options: throw naming the optimizer and the option unless value >= 0 (not NaN), or
  // unless 0 <= value < 1.
  void require_non_negative(const char* option, double value) const;
  void require_unit_interval(const char* option, double value) const;

 private:
  // A parameter's state: views into the group's flat buffers when the group is flat.
  struct ParamState {
    int64_t step = 0;
    Tensor master;                // f32 [param shape] for f16/bf16 parameters
    std::vector<Tensor> tensors;  // [param shape], in the order of names
  };
  struct GroupState {
    bool initialized = false;
    bool flat = false;
    Tensor flat_master;                // [n] when flat and 16-bit
    std::vector<std::string> names;    // the state tensors made so far
    std::vector<Tensor> flat_tensors;  // [n] each, when flat
    std::vector<ParamState> params;
  };

  // Makes the group's state (master copies, and the state tensors its options need) on first use.
  void ensure_state(int64_t group);
  // The range of the whole group, or an undefined param when it cannot be fused this step.
  UpdateRange fused_range(int64_t group) const;
  void step_group(int64_t group);
  int64_t first_index(int64_t group) const;

  GroupOptions defaults_;
  std::vector<ParamGroup> param_groups_;
  std::vector<GroupState> state_;
};

}  // namespace strata::optim
