// Stage3Init: builds a model already partitioned over the data-parallel ranks, so that no rank
// ever holds it whole (ZeRO-3's answer to a model larger than one rank's memory, the equivalent
// of deepspeed.zero.Init):
//
//   std::shared_ptr<nn::GPT> model;
//   {
//     zero::Stage3Init init(group, DType::bf16);  // the engine's parameter dtype
//     model = std::make_shared<nn::GPT>(config);
//   }
//   // initialize(...) at stage 3 takes each rank's slices as they are
//
// While the scope is active, each module's parameters are partitioned as soon as the module is
// registered into its parent (so one layer at a time is whole): rank r keeps elements
// [r * s, (r + 1) * s) of each parameter's flattened values (s = ceil(numel / world)), converted to
// `dtype`, and the parameter's memory is released (Storage::release). Initialisation that runs
// later on a partitioned parameter (GPT's init_weights) materialises it around the write: its
// slices are all-gathered, the fill runs on the whole parameter, the rank keeps its slice again.
// Every fill draws the same Philox stream positions as on an unpartitioned model, so the values
// are the same (the root module's own parameters are partitioned by the engine). Collective: every
// rank constructs the same model in the scope.
#pragma once

#include <memory>
#include <optional>

#include "core/tensor.hpp"
#include "nn/construction_scope.hpp"
#include "nn/module.hpp"
#include "parallel/process_group.hpp"

namespace strata::zero {

class Stage3Init final : public nn::ConstructionScope {
 public:
  // `group` null: one rank. `dtype`: what floating parameters become (their own dtype when unset).
  explicit Stage3Init(std::shared_ptr<dist::ProcessGroup> group,
                      std::optional<DType> dtype = std::nullopt);

  void module_constructed(nn::Module& module) override;
  void write(const Tensor& tensor, const std::function<void()>& write) override;

 private:
  std::shared_ptr<dist::ProcessGroup> group_;
  std::optional<DType> dtype_;
};

// Whether `parameter` (or a view of it) is held as Stage3Init slices.
bool is_stage3_init_partitioned(const Tensor& parameter);
// The whole value of a parameter partitioned by Stage3Init, all-gathered from its slices (a
// collective over its Stage3Init group), after which its slices are forgotten: how the engine
// takes the parameters over. An undefined tensor, without communication, for any other tensor.
Tensor stage3_init_materialize(const Tensor& parameter);

}  // namespace strata::zero
