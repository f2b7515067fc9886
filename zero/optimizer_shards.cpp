// Optimizer shards (optimizer_shards.hpp): the state_dict entries copied into compact partition
// tensors, and back through a reshard plan.
#include "zero/optimizer_shards.hpp"

#include <optional>
#include <set>
#include <utility>

#include "core/autograd_record.hpp"
#include "core/error.hpp"
#include "core/factories.hpp"

namespace strata::zero {
namespace {

std::string state_key(size_t index, const std::string& name) {
  return "state." + std::to_string(index) + "." + name;
}

std::string group_key(size_t group, const std::string& option) {
  return "param_groups." + std::to_string(group) + "." + option;
}

std::string list(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += "\n  " + item;
  return text;
}

void check_place(const EntryPlace& place, int64_t numel, size_t index,
                 const PartitionLayout& layout) {
  STRATA_CHECK(place.buffer < layout.buffers.size() && place.begin <= place.end &&
                   place.end - place.begin == numel &&
                   place.end <= layout.buffers[place.buffer].units.partition_numel(),
               "optimizer shards: entry ", index, " (", numel, " elements) is placed at [",
               place.begin, ", ", place.end, ") of buffer ", place.buffer,
               ", which does not fit its partition");
}

}  // namespace

std::string shard_tensor_name(size_t buffer, const std::string& state) {
  return std::to_string(buffer) + "." + state;
}

std::vector<EntryState> entry_states(const optim::Optimizer& optimizer) {
  const optim::StateDict dict = optimizer.state_dict();
  std::vector<EntryState> entries;
  for (size_t g = 0; g < optimizer.param_groups().size(); ++g) {
    for (const Tensor& param : optimizer.param_groups()[g].params) {
      const size_t index = entries.size();
      EntryState& entry = entries.emplace_back();
      entry.group = g;
      entry.master = param;  // an f32 parameter is its own master
      auto step = dict.scalars.find(state_key(index, "step"));
      if (step == dict.scalars.end()) continue;
      entry.step = static_cast<int64_t>(step->second);
      const std::string prefix = state_key(index, "");
      for (auto it = dict.tensors.lower_bound(prefix);
           it != dict.tensors.end() && it->first.starts_with(prefix); ++it) {
        const std::string state = it->first.substr(prefix.size());
        (state == "master" ? entry.master : entry.states[state]) = it->second;
      }
    }
  }
  return entries;
}

std::map<std::string, double> group_options(const optim::Optimizer& optimizer) {
  std::map<std::string, double> options;
  for (const auto& [key, value] : optimizer.state_dict().scalars)
    if (key.starts_with("param_groups.") && !key.ends_with(".size")) options[key] = value;
  return options;
}

OptimizerShard make_shard(const std::vector<EntryState>& entries, size_t groups,
                          std::map<std::string, double> options,
                          const std::vector<EntryPlace>& places, const PartitionLayout& layout) {
  STRATA_CHECK(entries.size() == places.size(), "optimizer shards: ", places.size(), " places for ",
               entries.size(), " optimizer entries");
  std::map<std::pair<size_t, std::string>, Tensor> parts;  // (buffer, state) -> [partition]
  auto part = [&](size_t buffer, const std::string& state) -> Tensor& {
    auto [it, fresh] = parts.try_emplace({buffer, state});
    if (fresh) it->second = zeros({layout.buffers[buffer].units.partition_numel()}, DType::f32);
    return it->second;
  };
  for (size_t b = 0; b < layout.buffers.size(); ++b) part(b, "master");

  OptimizerShard shard{.groups = std::vector<SavedGroup>(groups), .options = std::move(options)};
  for (size_t i = 0; i < entries.size(); ++i) {
    const EntryState& entry = entries[i];
    const EntryPlace& place = places[i];
    check_place(place, entry.master.numel(), i, layout);
    auto copy_in = [&](const std::string& state, const Tensor& value) {
      part(place.buffer, state)
          .narrow(0, place.begin, place.end - place.begin)
          .copy_(value.reshape({value.numel()}));
    };
    copy_in("master", entry.master);
    if (entry.step < 0) continue;
    SavedGroup& saved = shard.groups[entry.group];
    STRATA_CHECK(saved.step < 0 || saved.step == entry.step, "save_checkpoint: parameter group ",
                 entry.group, " has parameters at steps ", saved.step, " and ", entry.step,
                 " (some had no gradient in some steps); a checkpoint keeps one step per group");
    saved.step = entry.step;
    std::vector<std::string> states;
    for (const auto& [state, value] : entry.states) {
      states.push_back(state);
      copy_in(state, value);
    }
    STRATA_CHECK(saved.states.empty() || saved.states == states,
                 "save_checkpoint: parameter group ", entry.group,
                 " keeps different states for different parameters");
    saved.states = std::move(states);
  }
  for (auto& [key, tensor] : parts)
    shard.tensors.emplace_back(shard_tensor_name(key.first, key.second), tensor);
  return shard;
}

std::vector<EntryState> load_shards(const io::CheckpointReader& reader, const ShardLayout& saved,
                                    const PartitionLayout& layout, int rank,
                                    const std::vector<EntryPlace>& places,
                                    const std::vector<size_t>& group_of, size_t groups) {
  const std::string where = "load_checkpoint: " + reader.path().string();
  STRATA_CHECK(saved.groups.size() == groups, where, " holds ", saved.groups.size(),
               " optimizer parameter groups, this optimizer has ", groups);
  check_same_parameters(saved.layout, layout,
                        where + ": the checkpoint (first) and this model (second)");
  // Every shard the layout needs must be there, before any is read.
  std::vector<std::string> missing;
  for (int q = 0; q < saved.layout.world; ++q) {
    const io::ManifestEntry* entry = reader.manifest().find(io::EntryKind::tensors, kShardGroup, q);
    const std::string file = io::checkpoint_file_name(io::EntryKind::tensors, kShardGroup, q);
    if (!entry)
      missing.push_back(file + " (not in the manifest)");
    else if (!std::filesystem::exists(reader.path() / entry->file))
      missing.push_back(file + " (listed in the manifest, not on disk)");
  }
  STRATA_CHECK(missing.empty(), where, " was saved by ", saved.layout.world,
               " ranks, each writing its optimizer shard, and lacks ", missing.size(),
               " of them:", list(missing),
               "\nCopy them from where the ranks saved them (every rank must save to a file "
               "system they share), or load an earlier tag");

  std::vector<std::optional<io::SafetensorsFile>> shards(static_cast<size_t>(saved.layout.world));
  auto source_of = [&](const std::string& state) -> PartitionSource {
    return [&, state](size_t buffer, int q, int64_t offset, int64_t count, float* out) {
      std::optional<io::SafetensorsFile>& shard = shards[static_cast<size_t>(q)];
      if (!shard) shard.emplace(reader.open_tensors(kShardGroup, q));
      const std::string name = shard_tensor_name(buffer, state);
      STRATA_CHECK(shard->spec(name).dtype == DType::f32, where, ": shard tensor \"", name,
                   "\" of rank ", q, " is not f32");
      shard->read(name, offset, count, out);
    };
  };

  // The states each buffer needs.
  STRATA_CHECK(group_of.size() == places.size(), "optimizer shards: ", places.size(),
               " places for ", group_of.size(), " optimizer entries");
  std::vector<std::set<std::string>> needed(layout.buffers.size(), {"master"});
  for (size_t i = 0; i < places.size(); ++i)
    for (const std::string& state : saved.groups[group_of[i]].states)
      needed[places[i].buffer].insert(state);

  std::map<std::pair<size_t, std::string>, Tensor> parts;
  for (size_t b = 0; b < layout.buffers.size(); ++b) {
    const ReshardPlan plan = reshard_plan(saved.layout, layout, b, rank);
    for (const std::string& state : needed[b])
      parts[{b, state}] = apply_reshard(plan, source_of(state));
  }

  std::vector<EntryState> entries;
  for (size_t i = 0; i < places.size(); ++i) {
    const EntryPlace& place = places[i];
    check_place(place, place.end - place.begin, i, layout);
    auto value = [&](const std::string& state) {
      return parts.at({place.buffer, state}).narrow(0, place.begin, place.end - place.begin);
    };
    const SavedGroup& group = saved.groups[group_of[i]];
    EntryState& entry = entries.emplace_back(
        EntryState{.group = group_of[i], .master = value("master"), .step = group.step});
    if (group.step >= 0)
      for (const std::string& state : group.states) entry.states[state] = value(state);
  }
  return entries;
}

void load_entry_states(optim::Optimizer& optimizer, const std::vector<EntryState>& entries,
                       const std::map<std::string, double>& options) {
  autograd::NoGradGuard no_grad;
  const std::vector<optim::ParamGroup>& groups = optimizer.param_groups();
  optim::StateDict dict;
  dict.scalars = options;
  size_t index = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    dict.scalars[group_key(g, "size")] = static_cast<double>(groups[g].params.size());
    for (const Tensor& param : groups[g].params) {
      STRATA_CHECK(index < entries.size() && entries[index].master.numel() == param.numel(),
                   "optimizer shards: no entry of ", param.numel(), " elements for entry ", index);
      const EntryState& entry = entries[index];
      auto shaped = [&](const Tensor& value) { return value.reshape(param.shape()); };
      if (param.dtype() == DType::f32) {
        Tensor(param).copy_(shaped(entry.master));  // the parameter is the master
      } else if (entry.step >= 0) {
        dict.tensors[state_key(index, "master")] = shaped(entry.master);
      }
      if (entry.step >= 0) {
        dict.scalars[state_key(index, "step")] = static_cast<double>(entry.step);
        for (const auto& [state, value] : entry.states)
          dict.tensors[state_key(index, state)] = shaped(value);
      }
      ++index;
    }
  }
  STRATA_CHECK(index == entries.size(), "optimizer shards: ", entries.size(), " entries for ",
               index, " optimizer parameters");
  optimizer.load_state_dict(dict);
}

}  // namespace strata::zero
