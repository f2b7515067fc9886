// Loading a checkpoint: opens DIR/<tag> (or the tag DIR/latest names), reads its manifest, and
// reads tensor groups and JSON sections with each file's size and CRC-32 checked against the
// manifest first. Every failure says which file or tag, what is wrong and what to do.
// Layout: checkpoint_manifest.hpp.
//
//   io::CheckpointReader checkpoint(dir);                  // the latest tag
//   NamedTensors weights = checkpoint.read_tensors("model",
//   io::specs_of(model.state_dict().items())); std::string scheduler =
//   checkpoint.read_section("scheduler");
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "io/checkpoint_manifest.hpp"
#include "io/safetensors.hpp"

namespace strata::io {

class CheckpointReader {
 public:
  // An empty tag means the one DIR/latest names.
  explicit CheckpointReader(std::filesystem::path dir, std::string tag = {});

  // The tag opened: the directory's name (the manifest keeps the tag it was saved under).
  const std::string& tag() const { return tag_; }
  const std::filesystem::path& path() const { return path_; }  // DIR/<tag>
  const Manifest& manifest() const { return manifest_; }

  bool has_group(const std::string& group, std::optional<int> rank = {}) const;
  bool has_section(const std::string& name, std::optional<int> rank = {}) const;

  // Every tensor of a group, in file order, on the CPU.
  NamedTensors read_tensors(const std::string& group, std::optional<int> rank = {}) const;
  // The tensors the caller expects, in the caller's order. Names, dtypes and shapes are compared
  // with the manifest before any data is read; every missing, unexpected or mismatched tensor is
  // listed in one error.
  NamedTensors read_tensors(const std::string& group, const std::vector<TensorSpec>& expected,
                            std::optional<int> rank = {}) const;
  // A group's file opened for partial reads (io/safetensors.hpp), after its size and CRC-32 are
  // checked (streamed: the check holds one block of the file at a time).
  SafetensorsFile open_tensors(const std::string& group, std::optional<int> rank = {}) const;
  // A JSON section's text.
  std::string read_section(const std::string& name, std::optional<int> rank = {}) const;

  // What is wrong with one file (missing, a size or CRC-32 that differs from the manifest's), or
  // "" when it is intact.
  std::string file_damage(const ManifestEntry& entry) const;
  // file_damage of every file: one message per damaged or missing file, empty when all is intact.
  std::vector<std::string> verify() const;

 private:
  const ManifestEntry& entry(EntryKind kind, const std::string& name,
                             std::optional<int> rank) const;
  void require_intact(const ManifestEntry& entry) const;

  std::string tag_;
  std::filesystem::path path_;
  Manifest manifest_;
};

// The complete tags in DIR (directories holding a manifest), sorted.
std::vector<std::string> checkpoint_tags(const std::filesystem::path& dir);

}  // namespace strata::io
