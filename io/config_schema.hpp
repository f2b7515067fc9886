// How io/ reads, checks, fills and writes each config key: the table behind config_keys(), with a
// function per key for each of those jobs. Internal to io/config*.cpp.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "io/config.hpp"
#include "io/config_keys.hpp"

namespace YAML {
class Node;
}

namespace strata::io::config_schema {

// The problems found in one config, each "<key path>: <what>"; reported together.
struct Problems {
  std::vector<std::string> list;
  void add(const std::string& path, const std::string& what) { list.push_back(path + ": " + what); }
  // "not supported yet: <key path> ...": the path is inside the message.
  void add_unsupported(const std::string& what) { list.push_back("not supported yet: " + what); }
  // Throws strata::Error with every problem, one per line, after `context`.
  void raise_if_any(const std::string& context) const;
};

struct KeySpec {
  ConfigKey info;
  std::vector<std::string> types;  // optimizer/scheduler params: the types they apply to
  bool section = false;      // an unmodelled DeepSpeed section: off only as {"enabled": false, ...}
  bool allows_auto = false;  // "auto" means unset (the batch triad, pipeline.stages)
  bool required = false;     // params: must be given for their types
  std::function<void(Config&, const YAML::Node&, const std::string& path, Problems&)> read;
  std::function<std::string(const Config&)> json;  // the value as JSON; "null" when unset
  std::function<bool(const Config&)> is_set;       // params: the optional holds a value
  std::function<void(Config&)> fill_default;       // params: the type's default, when unset
  std::function<void(const Config&, Problems&)> check_range;  // the key's own rule
};

// Every key, in documentation order.
const std::vector<KeySpec>& key_specs();

// The checks that need no world size: every key's rule and status, the optimizer and scheduler
// types and their params, and the rules that join keys (fp16 with bf16, ...).
void check_config(const Config& config, Problems& problems);

// The batch triad's check for world_size (the data-parallel size).
void check_batch(const Config& config, int64_t world_size, Problems& problems);

// The canonical optimizer or scheduler type for a name ("adamw" -> "AdamW"): empty when Strata has
// no such type; `known_unbuilt` is set when DeepSpeed has it and Strata does not yet.
std::string canonical_optimizer(const std::string& name, bool* known_unbuilt);
std::string canonical_scheduler(const std::string& name, bool* known_unbuilt);
extern const std::vector<std::string> kOptimizerTypes;  // Adam, AdamW, Lamb, SGD, Adagrad
extern const std::vector<std::string> kSchedulerTypes;

// The parent path of a key path ("" at the top) and its last component.
std::string parent_of(const std::string& path);
std::string leaf_of(const std::string& path);

}  // namespace strata::io::config_schema
