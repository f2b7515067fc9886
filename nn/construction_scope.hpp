// ConstructionScope: a hook into model construction, for building a model already partitioned
// (ZeRO-3's Stage3Init, the equivalent of deepspeed.zero.Init). While a scope is active on this
// thread, every module registered as a submodule is handed to it once constructed (so it can
// partition that module's parameters before the next one is built), and the nn::init fills write
// through it (so it can materialise a partitioned parameter around the write).
#pragma once

#include <functional>

#include "core/tensor.hpp"

namespace strata::nn {

class Module;

class ConstructionScope {
 public:
  // Becomes the thread's active scope until destroyed (scopes nest: the previous one returns).
  ConstructionScope();
  virtual ~ConstructionScope();
  ConstructionScope(const ConstructionScope&) = delete;
  ConstructionScope& operator=(const ConstructionScope&) = delete;

  // The thread's active scope, null when none.
  static ConstructionScope* current();

  // `module`, fully constructed, was just registered as a submodule.
  virtual void module_constructed(Module& module) = 0;
  // Runs `write`, which writes `tensor` (a parameter or a view of one) in place, with the
  // parameter's data present.
  virtual void write(const Tensor& tensor, const std::function<void()>& write) = 0;

 private:
  ConstructionScope* previous_;
};

// Runs `write` on `tensor` through the active scope, or directly when there is none.
void write_parameter(const Tensor& tensor, const std::function<void()>& write);

}  // namespace strata::nn
