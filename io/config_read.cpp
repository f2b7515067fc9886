// load_config / parse_config: walks the YAML tree against the key table, collecting every unknown
// key, wrong type and duplicate before reporting them together.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

#include "core/error.hpp"
#include "io/closest_match.hpp"
#include "io/config_schema.hpp"
#include "io/file.hpp"
#include "io/json_string.hpp"

namespace strata::io {

namespace {

using config_schema::KeySpec;
using config_schema::Problems;

// The optimizer or scheduler type a params section belongs to, when the section is params.
struct ParamsContext {
  bool is_params = false;
  std::string type;  // canonical; empty when the type is unknown (its own problem is reported)
};

ParamsContext params_context(const Config& config, const std::string& path) {
  bool unbuilt = false;
  if (path == "optimizer.params") {
    return {true, config_schema::canonical_optimizer(config.optimizer.type, &unbuilt)};
  }
  if (path == "scheduler.params") {
    return {true, config_schema::canonical_scheduler(config.scheduler.type, &unbuilt)};
  }
  return {};
}

bool applies(const KeySpec& spec, const std::string& type) {
  return spec.types.empty() ||
         std::find(spec.types.begin(), spec.types.end(), type) != spec.types.end();
}

class Reader {
 public:
  Reader(Config& config, Problems& problems) : config_(config), problems_(problems) {}

  void read_map(const YAML::Node& node, const std::string& path) {
    ParamsContext params = params_context(config_, path);
    if (params.is_params && params.type.empty()) {
      // An unknown type has its own problem; no type at all is this section's.
      std::string section = config_schema::parent_of(path);
      const std::string& given =
          section == "optimizer" ? config_.optimizer.type : config_.scheduler.type;
      if (given.empty()) problems_.add(path, "given without " + section + ".type");
      return;
    }
    // The keys this section may hold: leaves, and the sections below it.
    std::vector<const KeySpec*> leaves;
    std::vector<std::string> names, sections;
    for (const KeySpec& spec : config_schema::key_specs()) {
      const std::string& key = spec.info.path;
      if (config_schema::parent_of(key) == path) {
        if (params.is_params && !applies(spec, params.type)) continue;
        leaves.push_back(&spec);
        names.push_back(config_schema::leaf_of(key));
      } else if (key.rfind(path.empty() ? "" : path + ".", 0) == 0) {
        std::string rest = key.substr(path.empty() ? 0 : path.size() + 1);
        std::string name = rest.substr(0, rest.find('.'));
        if (std::find(sections.begin(), sections.end(), name) == sections.end()) {
          sections.push_back(name);
          names.push_back(name);
        }
      }
    }
    // "type" first: a params section is read against its type. (The nodes are gathered in that
    // order rather than sorted: assigning a YAML::Node writes through to the tree.)
    std::vector<std::pair<std::string, YAML::Node>> entries;
    std::set<std::string> seen;
    for (bool types : {true, false}) {
      for (const auto& entry : node) {
        std::string name = entry.first.Scalar();
        if ((name == "type") != types) continue;
        if (!seen.insert(name).second) {
          problems_.add(path.empty() ? name : path + "." + name, "duplicate key");
          continue;
        }
        entries.emplace_back(name, entry.second);
      }
    }
    for (const auto& [name, value] : entries) {
      std::string key_path = path.empty() ? name : path + "." + name;
      auto leaf = std::find_if(leaves.begin(), leaves.end(), [&](const KeySpec* s) {
        return config_schema::leaf_of(s->info.path) == name;
      });
      if (leaf != leaves.end()) {
        read_leaf(**leaf, value, key_path);
      } else if (std::find(sections.begin(), sections.end(), name) != sections.end()) {
        read_section(value, key_path);
      } else {
        unknown(name, key_path, path, names, params);
      }
    }
  }

 private:
  void read_leaf(const KeySpec& spec, const YAML::Node& value, const std::string& path) {
    if (spec.section) return read_unmodelled(spec, value, path);
    if (value.IsScalar() && value.Scalar() == "auto" && spec.info.type != "string") {
      if (spec.allows_auto) return;  // unset: inferred
      problems_.add(path,
                    "\"auto\" is a placeholder that the Hugging Face Trainer fills in; "
                    "Strata, like DeepSpeed itself, needs " +
                        spec.info.type + " here");
      return;
    }
    spec.read(config_, value, path, problems_);
    if (spec.info.status == KeyStatus::setting) {
      config_.notes.push_back(path + ": accepted, no effect until " + spec.info.feature +
                              " is built");
    } else if (spec.info.status == KeyStatus::inert) {
      config_.notes.push_back(path + ": accepted, no effect: " + spec.info.feature);
    }
  }

  void read_section(const YAML::Node& value, const std::string& path) {
    if (path == "zero_optimization" && value.IsScalar()) {
      // DeepSpeed's oldest form: "zero_optimization": true meant stage 1.
      bool on = false;
      if (!YAML::convert<bool>::decode(value, on)) {
        problems_.add(path, "expected an object (or the legacy true/false), got " + value.Scalar());
      }
      config_.zero_optimization.stage = on ? 1 : 0;
      return;
    }
    if (value.IsNull()) return;  // an empty section: every default
    if (!value.IsMap()) {
      problems_.add(path, "expected an object");
      return;
    }
    read_map(value, path);
  }

  void read_unmodelled(const KeySpec& spec, const YAML::Node& value, const std::string& path) {
    bool enabled = true;
    if (value.IsMap() && value["enabled"] &&
        YAML::convert<bool>::decode(value["enabled"], enabled) && !enabled) {
      config_.notes.push_back(path + ": accepted, off (" + spec.info.feature +
                              " is not built yet)");
      return;
    }
    problems_.add_unsupported(path + " (" + spec.info.feature +
                              " is not built yet; only {\"enabled\": false} is accepted)");
  }

  void unknown(const std::string& name, const std::string& key_path, const std::string& section,
               const std::vector<std::string>& names, const ParamsContext& params) {
    if (params.is_params) {
      // A param of another type?
      for (const KeySpec& spec : config_schema::key_specs()) {
        if (spec.info.path == key_path) {
          std::string all;
          for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
          problems_.add(key_path,
                        "does not apply to " + params.type + " (its params: " + all + ")");
          return;
        }
      }
    }
    // Config keys are long: a dropped suffix ("_size") is still a near miss.
    std::optional<std::string> closest =
        closest_match(name, names, std::max<size_t>(3, name.size() / 3));
    problems_.add(key_path, "unknown key" + (section.empty() ? std::string() : " in " + section) +
                                (closest ? "; did you mean " + *closest + "?" : std::string()));
  }

  Config& config_;
  Problems& problems_;
};

}  // namespace

Config parse_config(const std::string& text, const std::string& source,
                    std::optional<int64_t> world_size) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(source, ": not valid JSON or YAML: ", e.what());
  }
  STRATA_CHECK(root.IsMap(), source, ": a config is a JSON or YAML object (key: value pairs); got ",
               root.IsNull()       ? "an empty file"
               : root.IsSequence() ? "a list"
                                   : "a single value");
  Config config;
  Problems problems;
  Reader(config, problems).read_map(root, "");
  config_schema::check_config(config, problems);
  if (world_size) config_schema::check_batch(config, *world_size, problems);
  problems.raise_if_any(source);
  return config;
}

Config load_config(const std::string& path, std::optional<int64_t> world_size) {
  return parse_config(read_file(path, "load_config"), path, world_size);
}

}  // namespace strata::io
