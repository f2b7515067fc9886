// CheckpointReader (checkpoint_reader.hpp): finding the tag, the manifest, and files checked
// against it before they are parsed.
#include "io/checkpoint_reader.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "io/file.hpp"

namespace strata::io {

namespace {

constexpr const char* kOp = "load_checkpoint";

// "the complete tags in DIR: a, b" or "DIR holds no complete checkpoint", for messages.
std::string tags_in(const std::filesystem::path& dir) {
  std::vector<std::string> tags = checkpoint_tags(dir);
  if (tags.empty()) return detail::concat(dir, " holds no complete checkpoint");
  std::string text = detail::concat("the complete tags in ", dir, ": ");
  for (size_t i = 0; i < tags.size(); ++i) text += (i ? ", " : "") + tags[i];
  return text;
}

std::string spec_text(const TensorSpec& spec) {
  return spec.name + " " + shape_str(spec.shape) + " " + safetensors_dtype_name(spec.dtype);
}

// Reads DIR/latest and checks that it names an existing tag.
std::string latest_tag(const std::filesystem::path& dir) {
  const std::filesystem::path latest = dir / kLatestFileName;
  STRATA_CHECK(std::filesystem::exists(latest), kOp, ": ", dir, " has no \"", kLatestFileName,
               "\" file, so no save there has completed; ", tags_in(dir),
               ". Pass a tag to load one of them");
  std::string tag = read_file(latest, kOp);
  while (!tag.empty() && std::isspace(static_cast<unsigned char>(tag.back()))) tag.pop_back();
  try {
    check_tag(tag, kOp);
  } catch (const Error&) {
    fail(kOp, ": ", latest, " holds \"", tag.substr(0, 80), "\", which is not a tag (the file is ",
         "damaged); ", tags_in(dir), ". Pass a tag to load one of them");
  }
  STRATA_CHECK(std::filesystem::is_directory(dir / tag), kOp, ": ", latest, " names tag \"", tag,
               "\", but ", dir / tag, " does not exist (was it moved or deleted?); ", tags_in(dir),
               ". Pass a tag to load one of them");
  return tag;
}

}  // namespace

std::vector<std::string> checkpoint_tags(const std::filesystem::path& dir) {
  std::vector<std::string> tags;
  std::error_code error;
  for (const auto& item : std::filesystem::directory_iterator(dir, error)) {
    std::string name = item.path().filename().string();
    if (item.is_directory() && !name.ends_with(kPartialSuffix) &&
        std::filesystem::exists(item.path() / kManifestFileName)) {
      tags.push_back(name);
    }
  }
  std::sort(tags.begin(), tags.end());
  return tags;
}

CheckpointReader::CheckpointReader(std::filesystem::path dir, std::string tag) {
  STRATA_CHECK(std::filesystem::is_directory(dir), kOp, ": the checkpoint directory ", dir,
               std::filesystem::exists(dir) ? " is not a directory" : " does not exist",
               " (is the path the one given to save_checkpoint?)");
  if (tag.empty()) {
    tag = latest_tag(dir);
  } else {
    check_tag(tag, kOp);
    const std::filesystem::path partial = dir / (tag + kPartialSuffix);
    STRATA_CHECK(std::filesystem::is_directory(dir / tag), kOp, ": there is no tag \"", tag,
                 "\" (no directory ", dir / tag, ")",
                 std::filesystem::exists(partial)
                     ? detail::concat("; ", partial, " is left by a save of it that did not finish")
                     : "",
                 "; ", tags_in(dir));
  }
  tag_ = std::move(tag);
  path_ = dir / tag_;
  const std::filesystem::path manifest = path_ / kManifestFileName;
  STRATA_CHECK(std::filesystem::exists(manifest), kOp, ": ", path_, " has no ", kManifestFileName,
               ", so it is not a complete Strata checkpoint; ", tags_in(dir));
  manifest_ = parse_manifest(read_file(manifest, kOp), manifest);
}

bool CheckpointReader::has_group(const std::string& group, std::optional<int> rank) const {
  return manifest_.find(EntryKind::tensors, group, rank) != nullptr;
}

bool CheckpointReader::has_section(const std::string& name, std::optional<int> rank) const {
  return manifest_.find(EntryKind::section, name, rank) != nullptr;
}

const ManifestEntry& CheckpointReader::entry(EntryKind kind, const std::string& name,
                                             std::optional<int> rank) const {
  if (const ManifestEntry* found = manifest_.find(kind, name, rank)) return *found;
  std::string holds;
  for (const ManifestEntry& e : manifest_.entries) {
    holds += (holds.empty() ? "" : ", ") + describe_entry(e.kind, e.name, e.rank);
  }
  fail(kOp, ": ", path_, " has no ", describe_entry(kind, name, rank),
       "; it holds: ", holds.empty() ? "nothing" : holds);
}

std::string CheckpointReader::file_damage(const ManifestEntry& entry) const {
  const std::filesystem::path file = path_ / entry.file;
  std::error_code error;
  uint64_t size = std::filesystem::file_size(file, error);
  if (error) return detail::concat(file, " is missing or unreadable (", error.message(), ")");
  if (size != entry.digest.size) {
    return detail::concat(file, " has ", size, " bytes but the manifest records ",
                          entry.digest.size, ": the file is ",
                          size < entry.digest.size ? "truncated" : "longer than written");
  }
  FileDigest digest = digest_file(file, kOp);
  if (digest.crc32 != entry.digest.crc32) {
    return detail::concat(file, " fails its CRC-32 check (", crc32_hex(digest.crc32),
                          ", the manifest records ", crc32_hex(entry.digest.crc32),
                          "): its contents are damaged");
  }
  return "";
}

void CheckpointReader::require_intact(const ManifestEntry& entry) const {
  std::string problem = file_damage(entry);
  STRATA_CHECK(problem.empty(), kOp, ": ", problem, ". Load an earlier tag (",
               tags_in(path_.parent_path()), ") or restore the file from a copy");
}

NamedTensors CheckpointReader::read_tensors(const std::string& group,
                                            std::optional<int> rank) const {
  const ManifestEntry& found = entry(EntryKind::tensors, group, rank);
  require_intact(found);
  return load_safetensors(path_ / found.file).tensors;
}

SafetensorsFile CheckpointReader::open_tensors(const std::string& group,
                                               std::optional<int> rank) const {
  const ManifestEntry& found = entry(EntryKind::tensors, group, rank);
  require_intact(found);
  return SafetensorsFile(path_ / found.file);
}

NamedTensors CheckpointReader::read_tensors(const std::string& group,
                                            const std::vector<TensorSpec>& expected,
                                            std::optional<int> rank) const {
  const ManifestEntry& found = entry(EntryKind::tensors, group, rank);
  std::map<std::string, const TensorSpec*> saved;
  for (const TensorSpec& spec : found.tensors) saved[spec.name] = &spec;
  std::vector<std::string> missing, shapes, dtypes;
  std::set<std::string> wanted;
  for (const TensorSpec& want : expected) {
    wanted.insert(want.name);
    auto it = saved.find(want.name);
    if (it == saved.end()) {
      missing.push_back(spec_text(want));
    } else if (it->second->shape != want.shape) {
      shapes.push_back(want.name + " is " + shape_str(it->second->shape) + " in the checkpoint, " +
                       shape_str(want.shape) + " expected");
    } else if (it->second->dtype != want.dtype) {
      dtypes.push_back(want.name + " is " + safetensors_dtype_name(it->second->dtype) +
                       " in the checkpoint, " + safetensors_dtype_name(want.dtype) + " expected");
    }
  }
  std::vector<std::string> unexpected;
  for (const TensorSpec& spec : found.tensors) {
    if (!wanted.count(spec.name)) unexpected.push_back(spec_text(spec));
  }
  if (!missing.empty() || !unexpected.empty() || !shapes.empty() || !dtypes.empty()) {
    std::ostringstream message;
    message << kOp << ": " << describe_entry(EntryKind::tensors, group, rank) << " in " << path_
            << " does not match the tensors it is loaded into (a checkpoint of another model or "
               "configuration?):";
    auto list = [&](const char* what, const std::vector<std::string>& items) {
      if (items.empty()) return;
      message << "\n  " << what << " (" << items.size() << "):";
      for (const std::string& item : items) message << "\n    " << item;
    };
    list("missing from the checkpoint", missing);
    list("in the checkpoint but not expected", unexpected);
    list("shape mismatch", shapes);
    list("dtype mismatch", dtypes);
    message << "\n  Load it into the model and configuration it was saved from.";
    fail(message.str());
  }
  NamedTensors tensors = read_tensors(group, rank);
  std::map<std::string, Tensor> by_name(tensors.begin(), tensors.end());
  NamedTensors ordered;
  for (const TensorSpec& want : expected) ordered.emplace_back(want.name, by_name.at(want.name));
  return ordered;
}

std::string CheckpointReader::read_section(const std::string& name, std::optional<int> rank) const {
  const ManifestEntry& found = entry(EntryKind::section, name, rank);
  require_intact(found);
  return read_file(path_ / found.file, kOp);
}

std::vector<std::string> CheckpointReader::verify() const {
  std::vector<std::string> problems;
  for (const ManifestEntry& entry : manifest_.entries) {
    std::string problem = file_damage(entry);
    if (!problem.empty()) problems.push_back(std::move(problem));
  }
  return problems;
}

}  // namespace strata::io
