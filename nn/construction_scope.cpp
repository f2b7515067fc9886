// The thread's active ConstructionScope.
#include "nn/construction_scope.hpp"

namespace strata::nn {

namespace {
thread_local ConstructionScope* active_scope = nullptr;
}  // namespace

ConstructionScope::ConstructionScope() : previous_(active_scope) { active_scope = this; }

ConstructionScope::~ConstructionScope() { active_scope = previous_; }

ConstructionScope* ConstructionScope::current() { return active_scope; }

void write_parameter(const Tensor& tensor, const std::function<void()>& write) {
  if (active_scope) {
    active_scope->write(tensor, write);
  } else {
    write();
  }
}

}  // namespace strata::nn
