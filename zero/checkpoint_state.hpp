// The JSON sections of an engine checkpoint (besides its tensor groups, model and optimizer): the
// scalars of an optimizer's or a schedule's StateDict, and the engine's own state (counters, the
// default generator's Philox seed and offset, the data loader's position). Written with every
// digit a double needs to read back to the same value; integers are written as integers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "core/random.hpp"
#include "io/loader_state.hpp"

namespace strata::zero {

// {"param_groups.0.lr": 0.001, ...}
std::string scalars_to_json(const std::map<std::string, double>& scalars);
// `what` names the section in errors.
std::map<std::string, double> scalars_from_json(std::string_view json, const std::string& what);

struct EngineState {
  int64_t global_steps = 0;
  int64_t global_samples = 0;
  int64_t micro_steps = 0;
  int64_t skipped_steps = 0;
  PhiloxState rng;                        // the default generator (dropout, random ops)
  std::optional<io::LoaderState> loader;  // when the engine has a loader
};

std::string to_json(const EngineState& state);
EngineState engine_state_from_json(std::string_view json);

// Throws unless `json` is a JSON object (client state is stored as a section).
void require_json_object(std::string_view json, const std::string& what);

}  // namespace strata::zero
