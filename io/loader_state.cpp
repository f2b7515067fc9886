// The data-loader state as JSON (loader_state.hpp): written by hand, read with yaml-cpp (a JSON
// document is YAML).
#include "io/loader_state.hpp"

#include <yaml-cpp/yaml.h>

#include "core/error.hpp"

namespace strata::io {

std::string to_json(const LoaderState& state) {
  return detail::concat("{\"epoch\": ", state.epoch, ", \"batch\": ", state.batch,
                        ", \"dataset_size\": ", state.dataset_size,
                        ", \"global_batch_size\": ", state.global_batch_size,
                        ", \"shuffle\": ", state.shuffle ? "true" : "false",
                        ", \"seed\": ", state.seed,
                        ", \"drop_last\": ", state.drop_last ? "true" : "false", "}");
}

namespace {

template <typename T>
T read_key(const YAML::Node& node, const char* key, const char* type) {
  STRATA_CHECK(node[key], "loader_state_from_json: missing key \"", key, "\"");
  try {
    return node[key].as<T>();
  } catch (const YAML::Exception&) {
    fail("loader_state_from_json: \"", key, "\" is ", YAML::Dump(node[key]), "; expected ", type);
  }
}

}  // namespace

LoaderState loader_state_from_json(std::string_view json) {
  YAML::Node node;
  try {
    node = YAML::Load(std::string(json));
  } catch (const YAML::Exception& e) {
    fail("loader_state_from_json: not valid JSON: ", e.what());
  }
  STRATA_CHECK(node.IsMap(), "loader_state_from_json: expected a JSON object, got ",
               YAML::Dump(node));
  LoaderState state;
  state.epoch = read_key<int64_t>(node, "epoch", "an integer");
  state.batch = read_key<int64_t>(node, "batch", "an integer");
  state.dataset_size = read_key<int64_t>(node, "dataset_size", "an integer");
  state.global_batch_size = read_key<int64_t>(node, "global_batch_size", "an integer");
  state.shuffle = read_key<bool>(node, "shuffle", "true or false");
  state.seed = read_key<uint64_t>(node, "seed", "an unsigned integer");
  state.drop_last = read_key<bool>(node, "drop_last", "true or false");
  return state;
}

}  // namespace strata::io
