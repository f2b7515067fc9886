// The JSON sections of an engine checkpoint (checkpoint_state.hpp), read with yaml-cpp (a JSON
// reader too).
#include "zero/checkpoint_state.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdio>

#include "core/error.hpp"
#include "io/json_string.hpp"

namespace strata::zero {
namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", value);
  return text;
}

YAML::Node parse_object(std::string_view json, const std::string& what) {
  YAML::Node node;
  try {
    node = YAML::Load(std::string(json));
  } catch (const YAML::Exception& e) {
    fail(what, ": not valid JSON: ", e.what());
  }
  STRATA_CHECK(node.IsMap(), what, ": expected a JSON object, got ", YAML::Dump(node));
  return node;
}

template <typename T>
T read_key(const YAML::Node& node, const char* key, const std::string& what) {
  STRATA_CHECK(node[key], what, ": missing key \"", key, "\"");
  try {
    return node[key].as<T>();
  } catch (const YAML::Exception&) {
    fail(what, ": \"", key, "\" is ", YAML::Dump(node[key]), "; expected a number");
  }
}

}  // namespace

std::string scalars_to_json(const std::map<std::string, double>& scalars) {
  std::string json = "{";
  for (const auto& [name, value] : scalars)
    json += (json.size() > 1 ? ", " : "") + io::json_string(name) + ": " + number(value);
  return json + "}";
}

std::map<std::string, double> scalars_from_json(std::string_view json, const std::string& what) {
  std::map<std::string, double> scalars;
  const YAML::Node node = parse_object(json, what);
  for (const auto& entry : node) {
    const std::string name = entry.first.as<std::string>();
    scalars[name] = read_key<double>(node, name.c_str(), what);
  }
  return scalars;
}

std::string to_json(const EngineState& state) {
  std::string json = "{\"global_steps\": " + std::to_string(state.global_steps) +
                     ", \"global_samples\": " + std::to_string(state.global_samples) +
                     ", \"micro_steps\": " + std::to_string(state.micro_steps) +
                     ", \"skipped_steps\": " + std::to_string(state.skipped_steps) +
                     ", \"rng_seed\": " + std::to_string(state.rng.seed) +
                     ", \"rng_offset\": " + std::to_string(state.rng.offset);
  if (state.loader) json += ", \"loader\": " + io::to_json(*state.loader);
  return json + "}";
}

EngineState engine_state_from_json(std::string_view json) {
  const std::string what = "engine checkpoint section \"engine\"";
  YAML::Node node = parse_object(json, what);
  EngineState state;
  state.global_steps = read_key<int64_t>(node, "global_steps", what);
  state.global_samples = read_key<int64_t>(node, "global_samples", what);
  state.micro_steps = read_key<int64_t>(node, "micro_steps", what);
  state.skipped_steps = read_key<int64_t>(node, "skipped_steps", what);
  state.rng.seed = read_key<uint64_t>(node, "rng_seed", what);
  state.rng.offset = read_key<uint64_t>(node, "rng_offset", what);
  if (node["loader"]) {
    YAML::Emitter flow;
    flow << YAML::Flow << node["loader"];
    state.loader = io::loader_state_from_json(flow.c_str());
  }
  return state;
}

void require_json_object(std::string_view json, const std::string& what) {
  parse_object(json, what);
}

}  // namespace strata::zero
