// The checkpoint format (design decision 9): what a checkpoint directory holds, and the manifest
// that lists it. Words used by the checkpoint files:
//   tag      one saved state, a directory under the checkpoint directory ("global_step1000")
//   group    a named set of tensors in one safetensors file: "model" (weights by module path
//            name, "h.0.attn.c_attn.weight"), "optimizer", ...
//   section  a named JSON document: scheduler, loss scaler, RNG states, counters, client state
//   rank     a group or section may be per rank (a ZeRO shard); otherwise it is shared
//
//   DIR/latest                           the newest complete tag, one line
//   DIR/<tag>/manifest.json              format version, layout, every file with size and CRC-32
//   DIR/<tag>/model.safetensors          group "model"
//   DIR/<tag>/optimizer.rank3.safetensors  group "optimizer", the shard of rank 3
//   DIR/<tag>/scheduler.json             section "scheduler"
//   DIR/<tag>/rng.rank3.json             section "rng" of rank 3
//   DIR/<tag>.partial/                   a save in progress, or one that crashed: never read
//
// The manifest (format_version 1):
//   {"format": "strata-checkpoint", "format_version": 1, "tag": "global_step1000",
//    "layout": {"world_size": 4, "zero_stage": 2, "partitioning": {"partition_world": 4}},
//    "files": [{"file": "model.safetensors", "kind": "tensors", "name": "model", "rank": null,
//               "size": 1234, "crc32": "8a9b0c1d",
//               "tensors": [{"name": "wte.weight", "dtype": "F32", "shape": [256, 64]}, ...]},
//              {"file": "scheduler.json", "kind": "section", "name": "scheduler", ...}]}
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"
#include "core/tensor.hpp"
#include "io/checksum.hpp"
#include "io/safetensors.hpp"

namespace strata::io {

inline constexpr int kCheckpointFormatVersion = 1;
inline constexpr const char* kManifestFileName = "manifest.json";
inline constexpr const char* kLatestFileName = "latest";
inline constexpr const char* kPartialSuffix = ".partial";

enum class EntryKind { tensors, section };

// One file of a checkpoint.
struct ManifestEntry {
  EntryKind kind = EntryKind::tensors;
  std::string name;         // the group or section
  std::optional<int> rank;  // set for a per-rank file
  std::string file;         // relative to the tag directory: checkpoint_file_name(kind, name, rank)
  FileDigest digest;
  std::vector<TensorSpec> tensors;  // a group's tensors in file order; empty for a section
};

// How the saved state was split across ranks. World size and ZeRO stage are what every layout
// has; `partitioning` holds the named sizes the parallel issues add (data/tensor/pipeline
// parallel sizes, partition alignment, ...). Tensors are stored by name, so a reader can re-split
// them for another layout.
struct CheckpointLayout {
  int64_t world_size = 1;
  int64_t zero_stage = 0;
  std::map<std::string, int64_t> partitioning;
  bool operator==(const CheckpointLayout&) const = default;
};

struct Manifest {
  int format_version = kCheckpointFormatVersion;
  std::string tag;
  CheckpointLayout layout;
  std::vector<ManifestEntry> entries;

  // The entry for (kind, name, rank), or null.
  const ManifestEntry* find(EntryKind kind, const std::string& name, std::optional<int> rank) const;
};

// "model.safetensors", "optimizer.rank3.safetensors", "scheduler.json", "rng.rank3.json".
std::string checkpoint_file_name(EntryKind kind, const std::string& name, std::optional<int> rank);
// "group \"optimizer\" of rank 3", for messages.
std::string describe_entry(EntryKind kind, const std::string& name, std::optional<int> rank);

// Throws unless `name` can be a group or section name: letters, digits, '_' and '-' (no '.', so
// file names split back into name, rank and kind). `op` names the caller.
void check_entry_name(const std::string& name, std::string_view op);
// Throws unless `tag` can name a tag directory: letters, digits, '_', '-' and '.', not starting
// with '.', not "latest", not ending in ".partial".
void check_tag(const std::string& tag, std::string_view op);

// The manifest as JSON text, one file per line.
std::string manifest_json(const Manifest& manifest);
// Parses and checks a manifest; `path` names the file in errors.
Manifest parse_manifest(const std::string& json, const std::filesystem::path& path);

}  // namespace strata::io
