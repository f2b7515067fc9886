// consolidate_fp32 (consolidate.hpp): a reshard plan onto a one-rank layout without padding whose
// members are packed in output order, so the plan's pieces, in order, are the output's bytes.
#include "zero/consolidate.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "core/error.hpp"
#include "core/factories.hpp"
#include "io/checkpoint_reader.hpp"
#include "io/progress.hpp"
#include "zero/checkpoint_state.hpp"
#include "zero/optimizer_shards.hpp"

namespace strata::zero {
namespace {

// One buffer, one unit, world 1: the saved parameters end to end in layout order.
PartitionLayout packed(const PartitionLayout& saved) {
  BufferLayout buffer;
  int64_t numel = 0;
  for (const BufferLayout& b : saved.buffers) {
    for (const MemberLayout& m : b.members) {
      buffer.members.push_back({.name = m.name, .begin = numel, .shape = m.shape});
      numel += m.numel();
    }
  }
  buffer.units = {.world = 1,
                  .units = {{.begin = 0,
                             .payload = numel,
                             .slice = numel,
                             .compact_begin = 0,
                             .first_member = 0,
                             .end_member = buffer.members.size()}},
                  .numel = numel};
  return {.world = 1, .buffers = {std::move(buffer)}};
}

ShardLayout saved_layout(const io::CheckpointReader& reader, const char* what) {
  STRATA_CHECK(reader.has_section(kShardLayoutSection), what, ": ", reader.path().string(),
               " has no \"", kShardLayoutSection,
               "\" section: it holds no optimizer shards with f32 masters (was it saved by "
               "Engine::save_checkpoint?)");
  return shard_layout_from_json(reader.read_section(kShardLayoutSection),
                                "checkpoint section \"" + std::string(kShardLayoutSection) + "\"");
}

}  // namespace

io::NamedTensors read_fp32_parameters(const io::CheckpointReader& reader) {
  const ShardLayout saved = saved_layout(reader, "load_checkpoint");
  const PartitionLayout target = packed(saved.layout);
  std::vector<std::optional<io::SafetensorsFile>> shards(static_cast<size_t>(saved.layout.world));
  const Tensor all =
      apply_reshard(reshard_plan(saved.layout, target, 0, 0),
                    [&](size_t buffer, int q, int64_t offset, int64_t count, float* out) {
                      std::optional<io::SafetensorsFile>& shard = shards[static_cast<size_t>(q)];
                      if (!shard) shard.emplace(reader.open_tensors(kShardGroup, q));
                      shard->read(shard_tensor_name(buffer, "master"), offset, count, out);
                    });
  io::NamedTensors parameters;
  for (const MemberLayout& m : target.buffers[0].members)
    parameters.emplace_back(m.name, all.narrow(0, m.begin, m.numel()).reshape(m.shape));
  return parameters;
}

ConsolidateResult consolidate_fp32(const std::filesystem::path& dir, const std::string& tag,
                                   const std::filesystem::path& out, std::ostream* progress) {
  const io::CheckpointReader reader(dir, tag);
  const ShardLayout saved = saved_layout(reader, "to-fp32");
  const PartitionLayout target = packed(saved.layout);
  const ReshardPlan plan = reshard_plan(saved.layout, target, 0, 0);
  const std::vector<MemberLayout>& members = target.buffers[0].members;

  std::vector<io::TensorSpec> specs;
  for (const MemberLayout& m : members) specs.push_back({m.name, DType::f32, m.shape});
  io::SafetensorsWriter writer(out, specs, {{"format", "pt"}});

  ConsolidateResult result{.tensors = static_cast<int64_t>(members.size()), .elements = plan.numel};
  std::vector<std::optional<io::SafetensorsFile>> shards(static_cast<size_t>(saved.layout.world));
  std::optional<io::Progress> line;
  if (progress) line.emplace(result.tensors, io::ProgressOptions{.unit = "elements"}, *progress);

  Tensor chunk = empty({std::min(kConsolidateChunk, std::max<int64_t>(plan.numel, 1))});
  size_t member = 0;     // the tensor being written
  int64_t position = 0;  // in the packed output, in elements
  auto finished_members = [&] {
    while (member < members.size() && members[member].begin + members[member].numel() <= position) {
      ++member;
      if (line) line->update(static_cast<int64_t>(member), {}, members[member - 1].numel());
    }
  };
  finished_members();  // leading empty tensors
  for (const ReshardPiece& piece : plan.pieces) {
    STRATA_CHECK(piece.dst_offset == position, "to-fp32: the shards leave elements ", position,
                 " to ", piece.dst_offset, " of the model uncovered");
    std::optional<io::SafetensorsFile>& shard = shards[static_cast<size_t>(piece.src_rank)];
    if (!shard) {
      shard.emplace(reader.open_tensors(kShardGroup, piece.src_rank));
      ++result.shards;
    }
    const std::string name = shard_tensor_name(piece.src_buffer, "master");
    STRATA_CHECK(shard->spec(name).dtype == DType::f32, "to-fp32: ", shard->path(), ": \"", name,
                 "\" is not f32");
    for (int64_t done = 0; done < piece.count;) {
      const int64_t left_in_tensor = members[member].begin + members[member].numel() - position;
      const int64_t count = std::min({piece.count - done, chunk.numel(), left_in_tensor});
      shard->read(name, piece.src_offset + done, count, chunk.data<float>());
      writer.write(chunk.narrow(0, 0, count));
      done += count;
      position += count;
      finished_members();
    }
  }
  STRATA_CHECK(position == plan.numel, "to-fp32: the shards cover ", position, " of the model's ",
               plan.numel, " elements");
  writer.commit();
  if (line) line->finish();
  return result;
}

}  // namespace strata::zero
