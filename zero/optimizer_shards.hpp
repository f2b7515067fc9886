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
// at stage 0, or the compact f32 master slice a ZeRO stage rebinds the optimizer to).
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

// This rank's shard: the tensors, per parameter group its step and state names, and the groups'
// options (identical on every rank).
struct OptimizerShard {
  io::NamedTensors tensors;  // "<b>.master", "<b>.<state>": f32 [partition numel of b], CPU
  std::vector<SavedGroup> groups;
  std::map<std::string, double> options;  // "param_groups.<g>.<option>"
};

// This rank's shard under `layout` (`places` are this rank's), from the optimizer's state. Throws
// when the parameters of one group are at different steps (one step per group is what a layout
// change keeps).
OptimizerShard make_shard(const optim::Optimizer& optimizer, const std::vector<EntryPlace>& places,
                          const PartitionLayout& layout);

// Loads rank `rank`'s partition under `layout` from the shards `reader` holds (group "optimizer",
// one per saved rank, cut by `saved`) into the optimizer: its states, steps and masters, with the
// group options `options` (the scalars "param_groups.<g>.<option>"). Reads only the pieces of this
// rank's partition. Throws naming the problem when a shard is missing or the parameters differ (by
// name and shape).
void load_shards(const io::CheckpointReader& reader, const ShardLayout& saved,
                 const PartitionLayout& layout, int rank, const std::vector<EntryPlace>& places,
                 const std::map<std::string, double>& options, optim::Optimizer& optimizer);

// "0.master": the shard tensor of a buffer's state.
std::string shard_tensor_name(size_t buffer, const std::string& state);

// The group name of the shards in a checkpoint ("optimizer", per rank).
inline constexpr const char* kShardGroup = "optimizer";
// The shared section holding the ShardLayout.
inline constexpr const char* kShardLayoutSection = "zero_layout";

}  // namespace strata::zero
