// Stage3Parameters: ZeRO stage 3's parameter partitioning. Each rank keeps only its slice of
// every unit of the 16-bit (or f32) parameters, laid end to end in a compact partition
// (zero/partition.hpp), and a module's units are all-gathered just before they are used and
// released after:
//
// - Every parameter is, for good, a view of its unit's *gathered buffer*, whose memory is freed
//   (Storage::release) when the unit is released and allocated again when it is gathered. Autograd
//   saves parameters as views of that same storage (autograd::saved keeps the storage, not a
//   copy), so the saved tensors see the weights again when backward re-gathers them; between the
//   two, reading a parameter is an error (Tensor::data_ptr), never stale data.
// - Forward: a pre-hook on each module with parameters acquires its units (its own parameters,
//   and those it declares external with Module::register_external_parameter: a tied weight that
//   it uses but a submodule owns), gathering what is not gathered yet; a forward hook releases
//   them, and registers a hook on the module's output whose firing in backward (the gradient
//   reached the output, so none of the module's own backward nodes has run yet) acquires them
//   again. The root module's calls delimit passes: a forward starts one, and a forward without
//   grad mode (evaluation, generate()) is one by itself.
// - Backward: those units are released as soon as no tensor saved for backward views them any
//   more (the nodes that needed them have run and freed what they saved: the storage's use count
//   is back to the parameters' own handles), checked as each module's backward starts; anything
//   still gathered when the pass ends is released then (end_pass()). A handle to a parameter's
//   data kept elsewhere (a state_dict) only delays that to the end of the pass.
// - Which to gather ahead, keep for reuse or release first is Stage3Schedule's (prefetch window,
//   max live, reuse distance, over a trace recorded on the first pass of each kind).
// - Parameters smaller than the persistence threshold sit in units of their own (the engine cuts
//   units there) that are gathered once and never released; refresh_persistent() re-gathers them
//   after the optimizer has rewritten the partition.
//
// Every rank must run the same modules in the same order (the gathers are collectives).
//
//   Stage3Parameters params(model, flat, group, options);     // parameters become partitioned
//   Tensor loss = loss_fn((*model)(x), y);                    // hooks gather and release
//   loss.backward();
//   params.end_pass();                                        // release what is left
//   // the optimizer writes the new values into params.partition(b); params.refresh_persistent()
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "nn/module.hpp"
#include "nn/ordered_dict.hpp"
#include "parallel/process_group.hpp"
#include "zero/flat_parameters.hpp"
#include "zero/partition.hpp"
#include "zero/stage3_schedule.hpp"

namespace strata::zero {

struct Stage3Options {
  Stage3ScheduleOptions schedule;
  // Units whose every parameter has fewer elements than this stay gathered
  // (stage3_param_persistence_threshold).
  int64_t persistence_threshold = 100'000;
};

// Where stage 3 starts new units (UnitOptions::unit_starts, indices in FlatParameters' layout of
// `parameters`, buffer by buffer): at each module's first parameter, so that a module's forward
// gathers whole units, and where parameters cross the persistence threshold, so that the small
// ones form persistent units of their own.
std::vector<size_t> stage3_unit_starts(nn::Module& model, const std::vector<Tensor>& parameters,
                                       int64_t persistence_threshold);

class Stage3Parameters {
 public:
  // Partitions the parameters of `flat` (laid out without flat parameters, its units cut for
  // `group`; null: one rank): copies this rank's slices of the parameters' values (rank 0's, or
  // their Stage3Init slices) into the compact partitions, points every parameter at its unit's
  // gathered buffer and releases it. Registers the hooks on `model`'s modules.
  Stage3Parameters(nn::Module& model, const FlatParameters& flat,
                   std::shared_ptr<dist::ProcessGroup> group, Stage3Options options = {});
  ~Stage3Parameters();
  Stage3Parameters(const Stage3Parameters&) = delete;
  Stage3Parameters& operator=(const Stage3Parameters&) = delete;

  // The model's forward run around its root's hooks (Engine::forward with a callable that calls
  // model->forward directly): does what the root's hooks do, once however calls nest. Give it
  // the output so that backward gathers the root's own and external parameters again.
  class RootCall {
   public:
    explicit RootCall(Stage3Parameters& parameters) : parameters_(parameters) {
      parameters_.enter_root();
    }
    ~RootCall() { parameters_.exit_root(output_); }
    RootCall(const RootCall&) = delete;
    RootCall& operator=(const RootCall&) = delete;
    void set_output(const Tensor& output) { output_ = output; }

   private:
    Stage3Parameters& parameters_;
    Tensor output_;
  };

  // Ends the pass (after backward in training; evaluation passes end after the root's forward):
  // waits for prefetches and releases every non-persistent unit.
  void end_pass();
  // Re-gathers the persistent units from the partitions (after the optimizer step).
  void refresh_persistent();

  // This rank's compact partition of buffer `b` [units.partition_numel()]: the parameters' values
  // in compact coordinates, in the parameters' dtype.
  const Tensor& partition(size_t b) const { return partitions_[b]; }
  const std::vector<Tensor>& partitions() const { return partitions_; }
  size_t num_units() const { return units_.size(); }
  // Whether unit `u` (numbered across buffers, in order) stays gathered.
  bool is_persistent(size_t u) const { return units_[u].persistent; }
  // Elements gathered now, and at most at once since construction (persistent units included).
  int64_t gathered_numel() const;
  // Bytes held now for parameters: the partitions and the gathered units.
  int64_t held_bytes() const;
  int64_t peak_gathered_numel() const { return peak_gathered_numel_; }
  const Stage3Schedule& schedule() const { return schedule_; }

  // The full parameter `parameter` (a member of some buffer), gathered into a new tensor on every
  // rank: a collective. The model's weights for saving (stage3_gather_16bit_weights_on_model_save).
  Tensor gather_full(const Tensor& parameter) const;
  // `model`'s state_dict with every partitioned parameter gathered whole (buffers and persistent
  // parameters copied): a collective.
  nn::OrderedDict<Tensor> full_state_dict(const nn::Module& model) const;
  // The inverse: `model`'s state from `dict` (full values by state_dict name, every entry
  // there, any float dtype): each rank writes its slices of the partitioned parameters into its
  // partitions, and copies the rest (buffers, parameters not partitioned). Collective, as it
  // re-gathers the persistent units; the optimizer's masters are the caller's to load.
  void load_full_state_dict(nn::Module& model, const nn::OrderedDict<Tensor>& dict);

 private:
  struct UnitState {
    size_t buffer = 0, index = 0;  // flat_.buffers()[buffer].units.units[index]
    Tensor gathered;               // [size]: the parameters' storage, released when not gathered
    bool persistent = false;
    std::shared_ptr<dist::Work> work;  // the gather in flight
    long idle_use_count = 0;           // handles to the storage when nothing saved views it
  };
  struct Event;  // a module's backward, holding its units
  struct ModuleUnits;

  void gather(size_t u, bool wait);
  void wait(size_t u);
  void release(const std::vector<size_t>& units);
  void carry_out(const Stage3Schedule::Plan& plan);
  void acquire(const std::vector<size_t>& units);
  void release_finished_events();
  void install_hooks(nn::Module& model);
  // A module's call is over: release its units and arm their gathering for its backward.
  void leave(ModuleUnits& module, const Tensor& output);
  void enter_root();
  void exit_root(const Tensor& output);

  FlatParameters flat_;  // shares the engine's tensors
  std::vector<Tensor> partitions_;
  std::vector<UnitState> units_;
  std::shared_ptr<dist::ProcessGroup> group_;
  int world_ = 1, rank_ = 0;
  Stage3Schedule schedule_;
  int64_t peak_gathered_numel_ = 0;
  std::vector<std::unique_ptr<ModuleUnits>> modules_;
  std::vector<std::shared_ptr<Event>> open_events_;
  ModuleUnits* root_units_ = nullptr;  // the root's entry in modules_
  int root_depth_ = 0;                 // nested calls of the root (RootCall included)
  std::shared_ptr<bool> alive_;        // hooks that outlive this object (on tensors) check it
};

}  // namespace strata::zero
