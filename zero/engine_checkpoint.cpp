// Engine::save_checkpoint and load_checkpoint (engine.hpp). Groups and sections of a tag:
//   model (tensors)             the module's state_dict, by module path name, in the model's
//                               dtype (written by rank 0); at stage 3 gathered only with
//                               stage3_gather_16bit_weights_on_model_save, else without the
//                               optimized parameters, whose weights are then the shards' masters
//   optimizer (tensors, rank r) rank r's optimizer shard: its partition of the f32 masters and
//                               states per flat buffer (zero/optimizer_shards.hpp), written by
//                               every rank that holds a partition (rank 0 alone at stage 0)
//   zero_layout (section)       the layout the shards are cut by, each group's step and states
//   optimizer (section)         the groups' options (lr, betas, ...)
//   lr_scheduler (section)      the schedule's scalars, when there is a schedule
//   loss_scaler (section)       the fp16 loss scaler's state, with fp16
//   engine (section)            counters, the default generator's Philox state, the loader
//   client_state (section)      the caller's JSON object
// The manifest's layout records the data-parallel size, the ZeRO stage and the partition world.
//
// A save by N ranks is collective: rank 0 creates the tag's partial directory, every rank writes
// its files into it, the ranks exchange their files' sizes and CRC-32s (and whether they failed),
// and rank 0 writes the manifest and publishes the tag. A failure on any rank fails the save on
// every rank and leaves the previous checkpoints as they were. DIR must be on a file system every
// rank shares.
#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/error.hpp"
#include "core/factories.hpp"
#include "core/random.hpp"
#include "io/checkpoint_reader.hpp"
#include "io/checkpoint_writer.hpp"
#include "optim/loss_scaler.hpp"
#include "zero/checkpoint_state.hpp"
#include "zero/consolidate.hpp"
#include "zero/engine.hpp"
#include "zero/optimizer_shards.hpp"

namespace strata::zero {
namespace {

// Finds parameters among the flat buffers' members by identity (not by data address: at stage 3
// a parameter holds no memory between its uses).
class MemberIndex {
 public:
  explicit MemberIndex(const FlatParameters& flat) : flat_(&flat) {
    for (size_t b = 0; b < flat.buffers().size(); ++b)
      for (size_t m = 0; m < flat.buffers()[b].members.size(); ++m)
        by_numel_[flat.buffers()[b].members[m].numel()].push_back({b, m});
  }
  // (buffer, member) of `param`, or nullopt when it is no member.
  std::optional<std::pair<size_t, size_t>> find(const Tensor& param) const {
    auto it = by_numel_.find(param.numel());
    if (it == by_numel_.end()) return std::nullopt;
    for (const auto& [b, m] : it->second)
      if (flat_->buffers()[b].members[m].is_same(param)) return std::pair{b, m};
    return std::nullopt;
  }

 private:
  const FlatParameters* flat_;
  std::map<int64_t, std::vector<std::pair<size_t, size_t>>> by_numel_;
};

// The model group's tensors: the state_dict, in the model's dtype. At stage 3 the partitioned
// parameters are gathered (a collective: every rank calls this, rank 0 writes) when the config
// asks for the 16-bit weights on save; otherwise the group leaves out the optimized parameters,
// whose values are the shards' f32 masters (`model_parameters` = 0 in the manifest's layout).
nn::OrderedDict<Tensor> model_group(const nn::Module& module, const Stage3Parameters* stage3,
                                    bool gather_weights, const PartitionLayout& layout) {
  if (!stage3) return module.state_dict();
  if (gather_weights) return stage3->full_state_dict(module);
  std::set<std::string> optimized;
  for (const BufferLayout& buffer : layout.buffers)
    for (const MemberLayout& member : buffer.members) optimized.insert(member.name);
  const nn::OrderedDict<Tensor> all = module.state_dict();
  nn::OrderedDict<Tensor> rest;
  for (const auto& [name, tensor] : all.items())
    if (!optimized.count(name)) rest.insert(name, tensor);
  return rest;
}

// The flat buffers' layout, with the module's parameter names.
PartitionLayout partition_layout(const FlatParameters& flat, const nn::Module& module) {
  const MemberIndex index(flat);
  PartitionLayout layout;
  layout.world = flat.buffers().empty() ? 1 : flat.buffers()[0].units.world;
  for (const FlatBuffer& buffer : flat.buffers()) {
    BufferLayout& out = layout.buffers.emplace_back();
    out.dtype = buffer.params.dtype();
    out.units = buffer.units;
    out.members.resize(buffer.members.size());
    for (size_t m = 0; m < buffer.members.size(); ++m) {
      out.members[m].begin = buffer.begins[m];
      out.members[m].shape = buffer.members[m].shape();
    }
  }
  const nn::OrderedDict<Tensor> named = module.named_parameters();
  for (const auto& [name, param] : named.items())
    if (auto place = index.find(param))
      layout.buffers[place->first].members[place->second].name = name;
  for (const BufferLayout& buffer : layout.buffers)
    for (size_t m = 0; m < buffer.members.size(); ++m)
      STRATA_CHECK(!buffer.members[m].name.empty(), "checkpoint: an optimized parameter of shape ",
                   shape_str(buffer.members[m].shape),
                   " is not a parameter of the model, so it has no name to be saved under");
  return layout;
}

// Where each optimizer entry lies in this rank's partition: at stages 1-2 the rebound optimizer's
// entries are compact ranges already; at stage 0 they are the flat buffers' members, and compact
// coordinates are flat ones (rank 0 of world 1).
std::vector<EntryPlace> entry_places(const FlatParameters& flat, const optim::Optimizer& optimizer,
                                     const PartitionedOptimizer* partitioned) {
  std::vector<EntryPlace> places;
  if (partitioned) {
    for (const PartitionEntry& entry : partitioned->entries())
      places.push_back({static_cast<size_t>(entry.buffer), entry.begin, entry.end});
    return places;
  }
  const MemberIndex index(flat);
  for (const optim::ParamGroup& group : optimizer.param_groups()) {
    for (const Tensor& param : group.params) {
      auto place = index.find(param);
      STRATA_CHECK(place, "checkpoint: optimizer parameter ", places.size(),
                   " is not in the flat buffers");
      const FlatBuffer& buffer = flat.buffers()[place->first];
      const int64_t begin = buffer.begins[place->second];
      auto [first, last] = buffer.units.compact_range(begin, begin + param.numel(), 0);
      places.push_back({place->first, first, last});
    }
  }
  return places;
}

// The parameter group of each optimizer entry.
std::vector<size_t> entry_groups(const optim::Optimizer& optimizer,
                                 const PartitionedOptimizer* partitioned) {
  std::vector<size_t> groups;
  if (partitioned) {
    for (const PartitionEntry& entry : partitioned->entries()) groups.push_back(entry.group);
    return groups;
  }
  for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
    groups.insert(groups.end(), optimizer.param_groups()[g].params.size(), g);
  return groups;
}

// Whether the masters and states are in NVMe files (offload_optimizer.device "nvme") rather than
// in the optimizer.
bool on_nvme(const PartitionedOptimizer* partitioned) {
  return partitioned && !partitioned->nvme().empty();
}

// The optimizer's entries: from its state_dict, or read back from the NVMe files.
std::vector<EntryState> optimizer_entries(const optim::Optimizer& optimizer,
                                          const PartitionedOptimizer* partitioned) {
  if (!on_nvme(partitioned)) return entry_states(optimizer);
  std::vector<EntryState> entries;
  for (size_t i = 0; i < partitioned->nvme().size(); ++i) {
    const NvmeOptimizer& nvme = *partitioned->nvme()[i];
    const size_t group = partitioned->entries()[i].group;
    EntryState& entry = entries.emplace_back(EntryState{
        .group = group, .master = nvme.master(), .step = nvme.steps() > 0 ? nvme.steps() : -1});
    if (entry.step < 0) continue;
    for (const optim::StateSpec& spec : optimizer.group_state_specs(static_cast<int64_t>(group)))
      entry.states[spec.name] = nvme.state(spec.name);
  }
  return entries;
}

// Every rank's `text`, in rank order (characters travel as i32).
std::vector<std::string> allgather_strings(dist::ProcessGroup& group, const std::string& text) {
  Tensor length = full({1}, static_cast<double>(text.size()), DType::i64);
  Tensor lengths = zeros({group.size()}, DType::i64);
  group.allgather(lengths, length);
  const std::vector<int64_t> sizes = lengths.to_vector<int64_t>();
  const int64_t longest = *std::max_element(sizes.begin(), sizes.end());
  Tensor mine = zeros({longest}, DType::i32);
  std::copy(text.begin(), text.end(), mine.data<int32_t>());
  Tensor all = zeros({longest * group.size()}, DType::i32);
  group.allgather(all, mine);
  const int32_t* chars = all.data<int32_t>();
  std::vector<std::string> texts;
  for (int r = 0; r < group.size(); ++r)
    texts.emplace_back(chars + r * longest, chars + r * longest + sizes[static_cast<size_t>(r)]);
  return texts;
}

// The groups' steps and states as every rank saw them, merged: a rank that owns nothing of a
// group has no state for it.
std::vector<SavedGroup> merge_groups(const std::vector<std::vector<SavedGroup>>& ranks) {
  std::vector<SavedGroup> merged = ranks.front();
  for (size_t r = 1; r < ranks.size(); ++r) {
    for (size_t g = 0; g < merged.size(); ++g) {
      const SavedGroup& seen = ranks[r][g];
      if (seen.step < 0) continue;
      STRATA_CHECK(merged[g].step < 0 || merged[g] == seen, "save_checkpoint: parameter group ", g,
                   " is at step ", merged[g].step, " on one rank and ", seen.step, " on rank ", r);
      merged[g] = seen;
    }
  }
  return merged;
}

}  // namespace

std::filesystem::path Engine::save_checkpoint(const std::filesystem::path& dir, std::string tag,
                                              std::string_view client_state) {
  STRATA_CHECK(micro_steps_ % gradient_accumulation_steps() == 0,
               "save_checkpoint: called inside an accumulation window (micro-step ", micro_steps_,
               " of windows of ", gradient_accumulation_steps(),
               "); save after the step() that ends a window, so no gradient is lost");
  require_json_object(client_state, "save_checkpoint: client_state");
  if (tag.empty()) tag = "global_step" + std::to_string(global_steps_);
  io::check_tag(tag, "save_checkpoint");

  const PartitionLayout layout = partition_layout(flat_, *module_);
  STRATA_CHECK(layout.world == 1 || layout.world == dp_size(), "save_checkpoint: the flat buffers ",
               "are partitioned for ", layout.world, " ranks, the data-parallel group has ",
               dp_size());
  const int partition_rank = layout.world == 1 ? 0 : rank_;
  const bool writes_shard = layout.world > 1 || rank_ == 0;
  const bool gather_weights = config_.zero_optimization.stage3_gather_16bit_weights_on_model_save ||
                              config_.zero_optimization.stage3_gather_fp16_weights_on_model_save;
  io::CheckpointLayout manifest_layout{.world_size = dp_size(),
                                       .zero_stage = config_.zero_optimization.stage,
                                       .partitioning = {{"partition_world", layout.world}}};
  if (stage3_ && !gather_weights) manifest_layout.partitioning["model_parameters"] = 0;

  // Every rank learns whether any failed, and fails too: a save is all or nothing.
  auto agree = [&](const std::optional<std::string>& failure, const char* what) {
    if (!group_) {
      if (failure) fail(*failure);
      return;
    }
    Tensor failed = full({1}, failure ? 1.0 : 0.0, DType::i64);
    group_->allreduce(failed, dist::ReduceOp::max);
    if (failure) fail(*failure);
    STRATA_CHECK(failed.item<int64_t>() == 0, "save_checkpoint: ", what,
                 " failed on another rank (its error says why); tag \"", tag,
                 "\" was not saved and the previous checkpoints in ", dir, " are untouched");
  };

  std::optional<io::CheckpointWriter> writer;
  std::optional<std::string> failure;
  if (rank_ == 0) {
    try {
      writer.emplace(dir, tag, manifest_layout);
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  agree(failure, "creating the tag's directory");

  // Each rank's own files: its shard, and on rank 0 everything shared but the layout.
  const nn::OrderedDict<Tensor> model =
      model_group(*module_, stage3_.get(), gather_weights, layout);
  OptimizerShard shard;
  try {
    if (rank_ != 0 && writes_shard)
      writer.emplace(dir, tag, manifest_layout, io::CheckpointWriter::Role::contributor);
    if (writes_shard) {
      shard = make_shard(optimizer_entries(*optimizer_, partitioned_.get()),
                         optimizer_->param_groups().size(), group_options(*optimizer_),
                         entry_places(flat_, *optimizer_, partitioned_.get()), layout);
      writer->add_tensors(kShardGroup, shard.tensors, partition_rank);
    }
    if (rank_ == 0) {
      if (!model.empty()) writer->add_tensors("model", model.items());
      writer->add_section("optimizer", scalars_to_json(shard.options));
      if (scheduler_)
        writer->add_section("lr_scheduler", scalars_to_json(scheduler_->state_dict().scalars));
      if (scaler_) writer->add_section("loss_scaler", scaler_->state_json());
      EngineState state{.global_steps = global_steps_,
                        .global_samples = global_samples_,
                        .micro_steps = micro_steps_,
                        .skipped_steps = skipped_steps_,
                        .rng = default_generator().state()};
      if (loader_) state.loader = loader_->state();
      writer->add_section("engine", to_json(state));
      writer->add_section("client_state", client_state);
    }
  } catch (const Error& e) {
    failure = e.what();
  }
  agree(failure, "writing a rank's files");

  // Rank 0 learns the other shards' files (sizes and CRC-32s) and groups, then publishes the tag.
  std::vector<std::string> manifests, group_texts;
  if (group_ && layout.world > 1) {
    const std::string mine =
        writer && rank_ != 0
            ? io::manifest_json(
                  {.tag = tag, .layout = manifest_layout, .entries = writer->entries()})
            : "";
    manifests = allgather_strings(*group_, mine);
    group_texts = allgather_strings(*group_, to_json(ShardLayout{{}, shard.groups}));
  }
  if (rank_ == 0) {
    try {
      std::vector<std::vector<SavedGroup>> groups = {shard.groups};
      if (!group_texts.empty()) groups.clear();
      for (const std::string& text : group_texts)
        groups.push_back(shard_layout_from_json(text, "save_checkpoint: a rank's groups").groups);
      for (size_t q = 1; q < manifests.size(); ++q) {
        if (manifests[q].empty()) continue;
        for (io::ManifestEntry& entry :
             io::parse_manifest(manifests[q], "the files of rank " + std::to_string(q)).entries)
          writer->add_written(std::move(entry));
      }
      writer->add_section(kShardLayoutSection, to_json(ShardLayout{layout, merge_groups(groups)}));
      writer->commit();
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  agree(failure, "publishing the tag");
  return dir / tag;
}

LoadedCheckpoint Engine::load_checkpoint(const std::filesystem::path& dir, std::string tag,
                                         LoadOptions options) {
  io::CheckpointReader reader(dir, std::move(tag));
  // The weights: the model group's, and the f32 masters rounded to the model's dtype for the
  // parameters a stage-3 save did not gather.
  const auto& partitioning = reader.manifest().layout.partitioning;
  const auto in_group = partitioning.find("model_parameters");
  const bool parameters_in_group = in_group == partitioning.end() || in_group->second != 0;
  const nn::OrderedDict<Tensor> own = module_->state_dict();
  io::NamedTensors weights;
  std::set<std::string> from_masters;
  if (!parameters_in_group) {
    for (auto& [name, master] : read_fp32_parameters(reader)) {
      from_masters.insert(name);
      const Tensor* param = own.find(name);
      STRATA_CHECK(param, "load_checkpoint: ", reader.path().string(), " holds parameter \"", name,
                   "\", which this model does not have");
      weights.emplace_back(name, master.to(param->dtype()));
    }
  }
  io::NamedTensors expected;
  for (const auto& [name, tensor] : own.items())
    if (!from_masters.count(name)) expected.emplace_back(name, tensor);
  if (!expected.empty()) {
    io::NamedTensors rest = reader.read_tensors("model", io::specs_of(expected));
    std::move(rest.begin(), rest.end(), std::back_inserter(weights));
  }
  nn::OrderedDict<Tensor> dict;
  for (auto& [name, tensor] : weights) dict.insert(name, tensor);
  if (stage3_)
    stage3_->load_full_state_dict(*module_, dict);
  else
    module_->load_state_dict(dict);
  LoadedCheckpoint loaded{reader.path(), reader.read_section("client_state")};
  if (options.load_module_only) return loaded;

  if (options.load_optimizer_states) {
    STRATA_CHECK(reader.has_section(kShardLayoutSection),
                 "load_checkpoint: ", reader.path().string(), " has no \"", kShardLayoutSection,
                 "\" section, so its optimizer state cannot be placed; pass "
                 "load_optimizer_states = false to load the weights and start the optimizer "
                 "afresh");
    const ShardLayout saved =
        shard_layout_from_json(reader.read_section(kShardLayoutSection),
                               "checkpoint section \"" + std::string(kShardLayoutSection) + "\"");
    const PartitionLayout layout = partition_layout(flat_, *module_);
    const int partition_rank = layout.world == 1 ? 0 : rank_;
    const std::vector<EntryState> entries = load_shards(
        reader, saved, layout, partition_rank, entry_places(flat_, *optimizer_, partitioned_.get()),
        entry_groups(*optimizer_, partitioned_.get()), optimizer_->param_groups().size());
    const std::map<std::string, double> saved_options =
        scalars_from_json(reader.read_section("optimizer"), "checkpoint section \"optimizer\"");
    if (on_nvme(partitioned_.get())) {
      for (size_t i = 0; i < entries.size(); ++i)
        partitioned_->nvme()[i]->load(entries[i].master, entries[i].states,
                                      std::max<int64_t>(entries[i].step, 0));
      load_entry_states(*optimizer_, {}, saved_options);  // the options; the groups are empty
    } else {
      load_entry_states(*optimizer_, entries, saved_options);
    }
  }
  if (options.load_lr_scheduler_states && scheduler_) {
    STRATA_CHECK(reader.has_section("lr_scheduler"), "load_checkpoint: ", reader.path().string(),
                 " has no LR schedule state, and this engine has a schedule; pass "
                 "load_lr_scheduler_states = false to start the schedule afresh");
    optim::StateDict schedule;
    schedule.scalars = scalars_from_json(reader.read_section("lr_scheduler"),
                                         "checkpoint section \"lr_scheduler\"");
    scheduler_->load_state_dict(schedule);
  }
  if (scaler_) {
    STRATA_CHECK(reader.has_section("loss_scaler"), "load_checkpoint: ", reader.path().string(),
                 " was saved without fp16 loss scaling, and this engine has fp16 enabled");
    scaler_->load_state_json(reader.read_section("loss_scaler"));
  }
  const EngineState state = engine_state_from_json(reader.read_section("engine"));
  global_steps_ = state.global_steps;
  global_samples_ = state.global_samples;
  micro_steps_ = state.micro_steps;
  skipped_steps_ = state.skipped_steps;
  default_generator().set_state(state.rng);
  if (loader_) {
    STRATA_CHECK(state.loader, "load_checkpoint: ", reader.path().string(),
                 " holds no data-loader position, and this engine has a loader");
    loader_->load_state(*state.loader);
  }
  return loaded;
}

}  // namespace strata::zero
