// Saving a checkpoint: tensor groups and JSON sections go into DIR/<tag>.partial/ as they are
// added, each file written to a temporary name, fsync'd and renamed. commit() writes the manifest
// last, renames the directory to DIR/<tag> (the moment the tag exists), then rewrites DIR/latest.
// A crash or an error at any point leaves the previous checkpoints and `latest` as they were; a
// writer destroyed without commit() removes its partial directory. Layout: checkpoint_manifest.hpp.
//
// A save by several ranks: one owner writer (rank 0) creates the partial directory, then each other
// rank opens a contributor writer on it, writes its own files and hands its entries (sizes and
// CRC-32s) to the owner, which adds them with add_written() and commits.
//
//   io::CheckpointWriter writer(dir, "global_step1000", {.world_size = 1, .zero_stage = 0});
//   writer.add_tensors("model", model.state_dict().items());
//   writer.add_tensors("optimizer", optimizer.state_dict().tensors);
//   writer.add_section("scheduler", R"({"last_epoch": 1000})");
//   std::filesystem::path saved = writer.commit();  // dir/global_step1000
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/checkpoint_manifest.hpp"
#include "io/safetensors.hpp"

namespace strata::io {

class CheckpointWriter {
 public:
  enum class Role {
    owner,        // creates DIR/<tag>.partial (clearing one left by a save that crashed), commits
    contributor,  // writes into the partial directory an owner created; never commits or clears
  };

  // Creates DIR if needed (owner).
  CheckpointWriter(std::filesystem::path dir, std::string tag, CheckpointLayout layout = {},
                   Role role = Role::owner);
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Writes a tensor group now (tensors on any device, any strides; names unique). `rank` marks
  // a per-rank shard.
  void add_tensors(const std::string& group, const NamedTensors& tensors,
                   std::optional<int> rank = {});
  void add_tensors(const std::string& group, const std::map<std::string, Tensor>& tensors,
                   std::optional<int> rank = {});
  // Writes a JSON section now; `json` must be a JSON object.
  void add_section(const std::string& name, std::string_view json, std::optional<int> rank = {});

  // The files written so far, as manifest entries (a contributor's, for the owner).
  const std::vector<ManifestEntry>& entries() const { return manifest_.entries; }
  // Owner: records a file a contributor wrote (one of its entries()); checks its size on disk.
  void add_written(ManifestEntry entry);

  // Owner: writes the manifest, publishes DIR/<tag> (replacing an earlier save of the same tag
  // atomically), and points DIR/latest at it unless update_latest is false. Returns DIR/<tag>.
  std::filesystem::path commit(bool update_latest = true);

 private:
  void add_entry(ManifestEntry entry);

  std::filesystem::path dir_, partial_;
  Manifest manifest_;
  Role role_;
  bool committed_ = false;
};

}  // namespace strata::io
