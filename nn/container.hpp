// Containers of modules: ModuleList (an ordered list, registered as "0", "1", ...), Sequential (a
// ModuleList whose forward chains its modules) and ModuleDict (modules by name, in insertion
// order). A model kept as an ordered list is what pipeline parallelism cuts into stages.
#pragma once

#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.hpp"

namespace strata::nn {

class ModuleList : public Module {
 public:
  ModuleList(std::initializer_list<std::shared_ptr<Module>> modules = {})
      : ModuleList("ModuleList", modules) {}

  // Appends `module`, registered under its index.
  void push_back(std::shared_ptr<Module> module);
  size_t size() const { return modules_.size(); }
  bool empty() const { return modules_.empty(); }
  const std::shared_ptr<Module>& operator[](size_t index) const;
  // The module at index as an M, or an error naming its actual type.
  template <class M>
  std::shared_ptr<M> at(size_t index) const {
    auto module = std::dynamic_pointer_cast<M>((*this)[index]);
    STRATA_CHECK(module, type_name(), "::at: module ", index, " is a ", (*this)[index]->type_name(),
                 ", not the type asked for");
    return module;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 protected:
  ModuleList(std::string type_name, std::initializer_list<std::shared_ptr<Module>> modules);

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

class Sequential : public ModuleList {
 public:
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules = {})
      : ModuleList("Sequential", modules) {}
  // Each module's operator() (hooks included) on the previous one's output.
  Tensor forward(const Tensor& x) override;
};

class ModuleDict : public Module {
 public:
  ModuleDict(std::initializer_list<std::pair<std::string, std::shared_ptr<Module>>> modules = {});

  // Adds `module` under `name` (a new name).
  void insert(std::string name, std::shared_ptr<Module> module);
  bool contains(const std::string& name) const { return modules_.contains(name); }
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](const std::string& name) const;
  template <class M>
  std::shared_ptr<M> at(const std::string& name) const {
    auto module = std::dynamic_pointer_cast<M>((*this)[name]);
    STRATA_CHECK(module, "ModuleDict::at: module '", name, "' is a ", (*this)[name]->type_name(),
                 ", not the type asked for");
    return module;
  }
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  OrderedDict<std::shared_ptr<Module>> modules_;
};

}  // namespace strata::nn
