// Consolidating a checkpoint's f32 master weights into one safetensors file of the model's
// parameters by module name, from any ZeRO layout (DeepSpeed's zero_to_fp32): what
// `strata-ckpt to-fp32` runs. The masters come from the optimizer shards (optimizer_shards.hpp),
// not from the model group's 16-bit weights. It streams: each piece of each shard is read and
// written in chunks of at most kConsolidateChunk elements, so its memory stays near one chunk
// whatever the model's size, and the output goes to a temporary name that is fsync'd and renamed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>

#include "io/checkpoint_reader.hpp"

namespace strata::zero {

inline constexpr int64_t kConsolidateChunk = int64_t{1} << 22;  // 16 MiB of f32

struct ConsolidateResult {
  int64_t tensors = 0;
  int64_t elements = 0;
  int shards = 0;  // the saved ranks' shards read
};

// Writes `out` from DIR/<tag> (the tag DIR/latest names when empty), tensors in the layout's
// order, with a progress line on `progress` (none when null). Every shard is verified (size and
// CRC-32) before it is read.
ConsolidateResult consolidate_fp32(const std::filesystem::path& dir, const std::string& tag,
                                   const std::filesystem::path& out, std::ostream* progress);

// The same masters in memory: every optimized parameter of the checkpoint `reader` opened, whole,
// in f32, by name (what load_checkpoint takes the weights from when the model group holds none:
// a stage-3 save without stage3_gather_16bit_weights_on_model_save).
io::NamedTensors read_fp32_parameters(const io::CheckpointReader& reader);

}  // namespace strata::zero
