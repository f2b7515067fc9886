// The JSON sections of an engine checkpoint (besides its tensor groups, model and optimizer): the
// scalars of an optimizer's or a schedule's StateDict, the engine's own state (counters, the
// default generator's Philox seed and offset, the data loader's position), and how the optimizer
// state is partitioned (the layout of the per-rank shards). Written with every digit a double
// needs to read back to the same value; integers are written as integers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/random.hpp"
#include "io/loader_state.hpp"
#include "zero/reshard.hpp"

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

// What the optimizer shards of a checkpoint hold: the layout they are cut by, and per optimizer
// parameter group its step and the names of its state tensors (each shard holds, per buffer b,
// "<b>.master" and "<b>.<state>" in compact coordinates).
struct SavedGroup {
  int64_t step = -1;  // -1: the group had not stepped (no state)
  std::vector<std::string> states;
  bool operator==(const SavedGroup&) const = default;
};
struct ShardLayout {
  PartitionLayout layout;
  std::vector<SavedGroup> groups;
};

// {"world": 2, "groups": [{"step": 10, "states": ["exp_avg", ...]}],
//  "buffers": [{"dtype": "BF16", "numel": 96,
//               "units": [{"begin": 0, "payload": 88, "slice": 48, "compact_begin": 0,
//                          "first_member": 0, "end_member": 3}],
//               "members": [{"name": "0.weight", "begin": 0, "shape": [8, 4]}]}]}
std::string to_json(const ShardLayout& layout);
// `what` names the section in errors.
ShardLayout shard_layout_from_json(std::string_view json, const std::string& what);

// Throws unless `json` is a JSON object (client state is stored as a section).
void require_json_object(std::string_view json, const std::string& what);

}  // namespace strata::zero
