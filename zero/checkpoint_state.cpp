// The JSON sections of an engine checkpoint (checkpoint_state.hpp), read with yaml-cpp (a JSON
// reader too).
#include "zero/checkpoint_state.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <type_traits>

#include "core/error.hpp"
#include "io/json_string.hpp"
#include "io/safetensors.hpp"

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
    fail(what, ": \"", key, "\" is ", YAML::Dump(node[key]), "; expected a ",
         std::is_same_v<T, std::string> ? "string" : "number");
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

std::string to_json(const ShardLayout& saved) {
  const PartitionLayout& layout = saved.layout;
  std::string json = "{\"world\": " + std::to_string(layout.world) + ", \"groups\": [";
  for (size_t g = 0; g < saved.groups.size(); ++g) {
    json += std::string(g ? ", " : "") + "{\"step\": " + std::to_string(saved.groups[g].step) +
            ", \"states\": [";
    for (size_t k = 0; k < saved.groups[g].states.size(); ++k)
      json += (k ? ", " : "") + io::json_string(saved.groups[g].states[k]);
    json += "]}";
  }
  json += "],\n \"buffers\": [";
  for (size_t b = 0; b < layout.buffers.size(); ++b) {
    const BufferLayout& buffer = layout.buffers[b];
    json += std::string(b ? ",\n  " : "") + "{\"dtype\": \"" +
            io::safetensors_dtype_name(buffer.dtype) +
            "\", \"numel\": " + std::to_string(buffer.units.numel) + ",\n   \"units\": [";
    for (size_t u = 0; u < buffer.units.units.size(); ++u) {
      const Unit& unit = buffer.units.units[u];
      json += std::string(u ? ",\n    " : "") + "{\"begin\": " + std::to_string(unit.begin) +
              ", \"payload\": " + std::to_string(unit.payload) +
              ", \"slice\": " + std::to_string(unit.slice) +
              ", \"compact_begin\": " + std::to_string(unit.compact_begin) +
              ", \"first_member\": " + std::to_string(unit.first_member) +
              ", \"end_member\": " + std::to_string(unit.end_member) + "}";
    }
    json += "],\n   \"members\": [";
    for (size_t m = 0; m < buffer.members.size(); ++m) {
      const MemberLayout& member = buffer.members[m];
      json += std::string(m ? ",\n    " : "") + "{\"name\": " + io::json_string(member.name) +
              ", \"begin\": " + std::to_string(member.begin) + ", \"shape\": [";
      for (size_t d = 0; d < member.shape.size(); ++d)
        json += (d ? ", " : "") + std::to_string(member.shape[d]);
      json += "]}";
    }
    json += "]}";
  }
  return json + "]}";
}

ShardLayout shard_layout_from_json(std::string_view json, const std::string& what) {
  const YAML::Node node = parse_object(json, what);
  ShardLayout saved;
  try {
    saved.layout.world = read_key<int>(node, "world", what);
    for (const YAML::Node& group : node["groups"]) {
      SavedGroup& out = saved.groups.emplace_back();
      out.step = read_key<int64_t>(group, "step", what);
      for (const YAML::Node& state : group["states"]) out.states.push_back(state.as<std::string>());
    }
    for (const YAML::Node& buffer : node["buffers"]) {
      BufferLayout& out = saved.layout.buffers.emplace_back();
      out.dtype =
          io::dtype_from_safetensors_name(read_key<std::string>(buffer, "dtype", what), what);
      out.units.world = saved.layout.world;
      out.units.numel = read_key<int64_t>(buffer, "numel", what);
      for (const YAML::Node& unit : buffer["units"]) {
        out.units.units.push_back({.begin = read_key<int64_t>(unit, "begin", what),
                                   .payload = read_key<int64_t>(unit, "payload", what),
                                   .slice = read_key<int64_t>(unit, "slice", what),
                                   .compact_begin = read_key<int64_t>(unit, "compact_begin", what),
                                   .first_member = read_key<size_t>(unit, "first_member", what),
                                   .end_member = read_key<size_t>(unit, "end_member", what)});
      }
      for (const YAML::Node& member : buffer["members"]) {
        MemberLayout& m = out.members.emplace_back();
        m.name = read_key<std::string>(member, "name", what);
        m.begin = read_key<int64_t>(member, "begin", what);
        for (const YAML::Node& size : member["shape"]) m.shape.push_back(size.as<int64_t>());
      }
    }
  } catch (const YAML::Exception& e) {
    fail(what, ": a malformed layout: ", e.what());
  }
  STRATA_CHECK(saved.layout.world >= 1 && !saved.groups.empty(), what, ": world ",
               saved.layout.world, " and ", saved.groups.size(),
               " parameter groups (expected a world >= 1 and at least one group)");
  return saved;
}

void require_json_object(std::string_view json, const std::string& what) {
  parse_object(json, what);
}

}  // namespace strata::zero
