// The optimizer state of a checkpoint in a form that does not depend on the ZeRO layout: each rank
// that holds a partition (zero/partition.hpp) saves it as one shard, f32 tensors in compact
// coordinates per flat buffer b ("<b>.master", "<b>.exp_avg", ...), and a shared section records
// the layout they were cut by (checkpoint_state.hpp, ShardLayout). Loading at another stage or
// world size reshards (zero/reshard.hpp): each rank reads from the saved shards only the pieces of
// its own new partition. Stage 0 is the world-1 case: one shard, compact == flat.
//
// The optimizer's state_dict (optim/optimizer.hpp) numbers its entries by parameter; an
// EntryPlace says where entry i lies in this rank's partition. The f32 master of entry i is its
// "master" state tensor for a 16-bit parameter, and otherwise the parameter itself (an f32 model
// at stage 0, or the compact f32 master slice a ZeRO stage rebinds the optimizer to). With NVMe
// offload the engine reads the entries back from their files (EntryState) and writes them back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/checkpoint_reader.hpp"
#include "optim/optimizer.hpp"
#include "zero/checkpoint_state.hpp"
#include "zero/reshard.hpp"

namespace strata::zero {

// Where optimizer entry i lies: buffer `buffer`, compact [begin, end) of this rank's partition.
struct EntryPlace {
  size_t buffer = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

// One optimizer entry's state, wherever the optimizer keeps it (in memory, or in NVMe files read
// back): its parameter group, its f32 master, its step (-1: it never stepped, and has no states)
// and its states by name. Tensors hold the entry's elements in order, in any shape.
struct EntryState {
  size_t group = 0;
  Tensor master;
  int64_t step = -1;
  std::map<std::string, Tensor> states;
};

// The entries of an optimizer that holds its state in memory, read from its state_dict.
std::vector<EntryState> entry_states(const optim::Optimizer& optimizer);
// The groups' options, the scalars "param_groups.<g>.<option>" (identical on every rank).
std::map<std::string, double> group_options(const optim::Optimizer& optimizer);

// This rank's shard: the tensors, per parameter group its step and state names, and the groups'
// options.
struct OptimizerShard {
  io::NamedTensors tensors;  // "<b>.master", "<b>.<state>": f32 [partition numel of b], CPU
  std::vector<SavedGroup> groups;
  std::map<std::string, double> options;  // "param_groups.<g>.<option>"
};

// This rank's shard under `layout` of `entries` (`places` are this rank's), for an optimizer of
// `groups` parameter groups. Throws when the entries of one group are at different steps (one
// step per group is what a layout change keeps).
OptimizerShard make_shard(const std::vector<EntryState>& entries, size_t groups,
                          std::map<std::string, double> options,
                          const std::vector<EntryPlace>& places, const PartitionLayout& layout);

// Rank `rank`'s entries under `layout` (entry i of parameter group group_of[i], at places[i])
// from the shards `reader` holds (group "optimizer", one per saved rank, cut by `saved`), for an
// optimizer of `groups` parameter groups: masters and states as 1-D f32 tensors. Reads only the
// pieces of this rank's partition. Throws naming the problem when a shard is missing or the
// parameters differ (by name and shape).
std::vector<EntryState> load_shards(const io::CheckpointReader& reader, const ShardLayout& saved,
                                    const PartitionLayout& layout, int rank,
                                    const std::vector<EntryPlace>& places,
                                    const std::vector<size_t>& group_of, size_t groups);

// Loads `entries` (load_shards') and the group options `options` into an optimizer that holds its
// state in memory: the states, steps and masters (an f32 parameter is its own master).
void load_entry_states(optim::Optimizer& optimizer, const std::vector<EntryState>& entries,
                       const std::map<std::string, double>& options);

// "0.master": the shard tensor of a buffer's state.
std::string shard_tensor_name(size_t buffer, const std::string& state);

// The group name of the shards in a checkpoint ("optimizer", per rank).
inline constexpr const char* kShardGroup = "optimizer";
// The shared section holding the ShardLayout.
inline constexpr const char* kShardLayoutSection = "zero_layout";

}  // namespace strata::zero
