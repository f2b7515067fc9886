// CheckpointWriter (checkpoint_writer.hpp): files into DIR/<tag>.partial/, then the manifest, the
// directory rename and `latest`, in that order.
#include "io/checkpoint_writer.hpp"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/file.hpp"

namespace strata::io {

namespace {

constexpr const char* kOp = "save_checkpoint";

// Moves `partial` to `target`. A target left by an earlier save of the same tag is swapped out in
// one step (renameat2's RENAME_EXCHANGE) and then removed, so the tag never goes missing.
void publish(const std::filesystem::path& partial, const std::filesystem::path& target) {
  if (!std::filesystem::exists(target)) {
    std::error_code error;
    std::filesystem::rename(partial, target, error);
    STRATA_CHECK(!error, kOp, ": cannot rename ", partial, " to ", target, ": ", error.message());
    return;
  }
  STRATA_CHECK(
      ::renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0, kOp,
      ": cannot replace the existing checkpoint ", target, " with ", partial, ": ",
      std::strerror(errno),
      " (this file system cannot swap directories atomically: save under a new tag, or "
      "remove the old one first)");
  std::error_code ignored;  // a leftover is cleared by the next save of this tag
  std::filesystem::remove_all(partial, ignored);
}

}  // namespace

CheckpointWriter::CheckpointWriter(std::filesystem::path dir, std::string tag,
                                   CheckpointLayout layout, Role role)
    : dir_(std::move(dir)), role_(role) {
  check_tag(tag, kOp);
  STRATA_CHECK(layout.world_size >= 1 && layout.zero_stage >= 0 && layout.zero_stage <= 3, kOp,
               ": the layout has world size ", layout.world_size, " and ZeRO stage ",
               layout.zero_stage, " (expected a world size >= 1 and a stage from 0 to 3)");
  partial_ = dir_ / (tag + kPartialSuffix);
  manifest_.tag = std::move(tag);
  manifest_.layout = std::move(layout);
  if (role_ == Role::contributor) {
    STRATA_CHECK(std::filesystem::is_directory(partial_), kOp, ": ", partial_,
                 " does not exist; a contributor writes into the directory its owner created "
                 "(is DIR on a file system every rank shares?)");
    return;
  }
  std::error_code error;
  std::filesystem::create_directories(dir_, error);
  STRATA_CHECK(!error, kOp, ": cannot create the checkpoint directory ", dir_, ": ",
               error.message());
  std::filesystem::remove_all(partial_, error);
  STRATA_CHECK(!error, kOp, ": cannot clear ", partial_,
               " (left by an interrupted save): ", error.message());
  std::filesystem::create_directory(partial_, error);
  STRATA_CHECK(!error, kOp, ": cannot create ", partial_, ": ", error.message());
}

CheckpointWriter::~CheckpointWriter() {
  if (committed_ || role_ == Role::contributor) return;
  std::error_code ignored;
  std::filesystem::remove_all(partial_, ignored);
}

void CheckpointWriter::add_entry(ManifestEntry entry) {
  STRATA_CHECK(!committed_, kOp, ": ", describe_entry(entry.kind, entry.name, entry.rank),
               " added to ", dir_ / manifest_.tag, " after commit()");
  check_entry_name(entry.name, kOp);
  STRATA_CHECK(!entry.rank || *entry.rank >= 0, kOp, ": rank ", *entry.rank, " of ",
               describe_entry(entry.kind, entry.name, {}), " is negative");
  STRATA_CHECK(!manifest_.find(entry.kind, entry.name, entry.rank), kOp, ": ",
               describe_entry(entry.kind, entry.name, entry.rank), " was added twice to ",
               dir_ / manifest_.tag);
  entry.file = checkpoint_file_name(entry.kind, entry.name, entry.rank);
  manifest_.entries.push_back(std::move(entry));
}

void CheckpointWriter::add_tensors(const std::string& group, const NamedTensors& tensors,
                                   std::optional<int> rank) {
  ManifestEntry entry{EntryKind::tensors, group, rank};
  for (const auto& [name, tensor] : tensors) {
    STRATA_CHECK(tensor.defined(), kOp, ": tensor \"", name, "\" of ",
                 describe_entry(EntryKind::tensors, group, rank), " is undefined");
    entry.tensors.push_back({name, tensor.dtype(), tensor.shape()});
  }
  add_entry(std::move(entry));
  ManifestEntry& added = manifest_.entries.back();
  try {
    added.digest = save_safetensors(partial_ / added.file, tensors, {{"format", "pt"}});
  } catch (const Error& e) {
    manifest_.entries.pop_back();
    fail(kOp, ": writing ", describe_entry(EntryKind::tensors, group, rank), " of tag \"",
         manifest_.tag, "\" failed; the previous checkpoints in ", dir_,
         " are untouched; fix the cause below and save again. Cause: ", e.what());
  }
}

void CheckpointWriter::add_tensors(const std::string& group,
                                   const std::map<std::string, Tensor>& tensors,
                                   std::optional<int> rank) {
  add_tensors(group, NamedTensors(tensors.begin(), tensors.end()), rank);
}

void CheckpointWriter::add_section(const std::string& name, std::string_view json,
                                   std::optional<int> rank) {
  bool is_object = false;
  try {
    size_t start = json.find_first_not_of(" \t\r\n");
    is_object = start != std::string_view::npos && json[start] == '{' &&
                YAML::Load(std::string(json)).IsMap();
  } catch (const YAML::Exception&) {
  }
  STRATA_CHECK(is_object, kOp, ": ", describe_entry(EntryKind::section, name, rank),
               " is not a JSON object: ", json.substr(0, 80));
  add_entry({EntryKind::section, name, rank});
  ManifestEntry& added = manifest_.entries.back();
  try {
    AtomicFile file(partial_ / added.file, kOp);
    file.write(json);
    file.commit();
    added.digest = file.digest();
  } catch (const Error& e) {
    manifest_.entries.pop_back();
    fail(kOp, ": writing ", describe_entry(EntryKind::section, name, rank), " of tag \"",
         manifest_.tag, "\" failed; the previous checkpoints in ", dir_,
         " are untouched; fix the cause below and save again. Cause: ", e.what());
  }
}

void CheckpointWriter::add_written(ManifestEntry entry) {
  STRATA_CHECK(role_ == Role::owner, kOp, ": add_written on a contributor writer");
  const std::filesystem::path file =
      partial_ / checkpoint_file_name(entry.kind, entry.name, entry.rank);
  std::error_code error;
  const uint64_t size = std::filesystem::file_size(file, error);
  STRATA_CHECK(!error && size == entry.digest.size, kOp, ": ",
               describe_entry(entry.kind, entry.name, entry.rank), " should be ", file, " of ",
               entry.digest.size, " bytes, but ",
               error ? "it is missing (" + error.message() + ")" : std::to_string(size) + " bytes",
               " (is DIR on a file system every rank shares?)");
  add_entry(std::move(entry));
}

std::filesystem::path CheckpointWriter::commit(bool update_latest) {
  STRATA_CHECK(role_ == Role::owner, kOp, ": commit on a contributor writer; its owner commits");
  STRATA_CHECK(!committed_, kOp, ": ", dir_ / manifest_.tag, " committed twice");
  const std::filesystem::path target = dir_ / manifest_.tag;
  try {
    write_file(partial_ / kManifestFileName, manifest_json(manifest_), kOp);
    publish(partial_, target);
  } catch (const Error& e) {
    fail(kOp, ": tag \"", manifest_.tag, "\" was not saved; the previous checkpoints in ", dir_,
         " are untouched; fix the cause below and save again. Cause: ", e.what());
  }
  sync_directory(dir_);
  committed_ = true;
  if (update_latest) {
    try {
      write_file(dir_ / kLatestFileName, manifest_.tag + "\n", kOp);
    } catch (const Error& e) {
      fail(kOp, ": ", target, " is saved and complete, but ", dir_ / kLatestFileName,
           " still names the previous tag. Cause: ", e.what());
    }
  }
  return target;
}

}  // namespace strata::io
