// ModuleList, Sequential and ModuleDict.
#include "nn/container.hpp"

namespace strata::nn {

ModuleList::ModuleList(std::string type_name,
                       std::initializer_list<std::shared_ptr<Module>> modules)
    : Module(std::move(type_name)) {
  for (const auto& module : modules) push_back(module);
}

void ModuleList::push_back(std::shared_ptr<Module> module) {
  modules_.push_back(register_module(std::to_string(modules_.size()), std::move(module)));
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t index) const {
  STRATA_CHECK(index < modules_.size(), type_name(), ": index ", index, " is out of range for ",
               modules_.size(), " modules");
  return modules_[index];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (const auto& module : *this) y = (*module)(y);
  return y;
}

ModuleDict::ModuleDict(
    std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> modules)
    : Module("ModuleDict") {
  for (const auto& [name, module] : modules) insert(name, module);
}

void ModuleDict::insert(std::string name, std::shared_ptr<Module> module) {
  modules_.insert(name, register_module(name, std::move(module)));
}

const std::shared_ptr<Module>& ModuleDict::operator[](const std::string& name) const {
  const auto* module = modules_.find(name);
  STRATA_CHECK(module, "ModuleDict: no module named '", name, "'");
  return *module;
}

}  // namespace strata::nn
