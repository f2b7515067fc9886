// A module's weights as a safetensors file, by state-dict name (the layout other tools read).
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "io/safetensors.hpp"
#include "nn/module.hpp"

namespace strata::samples {

inline void save_weights(const nn::Module& module, const std::filesystem::path& path,
                         const std::map<std::string, std::string>& metadata = {}) {
  io::NamedTensors tensors;
  for (const auto& [name, tensor] : module.state_dict()) tensors.emplace_back(name, tensor);
  io::save_safetensors(path, tensors, metadata);
}

// Loads every tensor of the module (strict: the file must hold exactly the module's names and
// shapes; the error lists the differences).
inline void load_weights(nn::Module& module, const std::filesystem::path& path) {
  nn::OrderedDict<Tensor> dict;
  for (auto& [name, tensor] : io::load_safetensors(path).tensors) dict.insert(name, tensor);
  module.load_state_dict(dict);
}

}  // namespace strata::samples
