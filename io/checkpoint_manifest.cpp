// The checkpoint manifest: file naming, name rules, and the JSON written and parsed
// (checkpoint_manifest.hpp). Parsed with yaml-cpp (JSON is YAML), as the safetensors header.
#include "io/checkpoint_manifest.hpp"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "io/json_string.hpp"
#include "io/safetensors.hpp"

namespace strata::io {

namespace {

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

const char* kind_name(EntryKind kind) { return kind == EntryKind::tensors ? "tensors" : "section"; }

// node[key], which must exist; `what` says where it sits in the manifest.
YAML::Node required(const YAML::Node& node, const char* key, const std::string& what,
                    const std::filesystem::path& path) {
  YAML::Node value = node[key];
  STRATA_CHECK(value, "load_checkpoint: ", path, ": ", what, " lacks \"", key,
               "\"; the manifest is damaged or was not written by Strata");
  return value;
}

}  // namespace

const ManifestEntry* Manifest::find(EntryKind kind, const std::string& name,
                                    std::optional<int> rank) const {
  for (const ManifestEntry& entry : entries) {
    if (entry.kind == kind && entry.name == name && entry.rank == rank) return &entry;
  }
  return nullptr;
}

std::string checkpoint_file_name(EntryKind kind, const std::string& name, std::optional<int> rank) {
  std::string file = name;
  if (rank) file += ".rank" + std::to_string(*rank);
  return file + (kind == EntryKind::tensors ? ".safetensors" : ".json");
}

std::string describe_entry(EntryKind kind, const std::string& name, std::optional<int> rank) {
  std::string text = (kind == EntryKind::tensors ? "group \"" : "section \"") + name + "\"";
  if (rank) text += " of rank " + std::to_string(*rank);
  return text;
}

void check_entry_name(const std::string& name, std::string_view op) {
  bool valid = !name.empty();
  for (char c : name) valid = valid && is_name_char(c);
  STRATA_CHECK(valid, op, ": \"", name,
               "\" cannot name a tensor group or JSON section: use letters, digits, '_' and '-'");
}

void check_tag(const std::string& tag, std::string_view op) {
  bool valid =
      !tag.empty() && tag[0] != '.' && tag != kLatestFileName && !tag.ends_with(kPartialSuffix);
  for (char c : tag) valid = valid && (is_name_char(c) || c == '.');
  STRATA_CHECK(valid, op, ": \"", tag,
               "\" cannot be a checkpoint tag: use letters, digits, '_', '-' and '.', not starting "
               "with '.', and neither \"latest\" nor a name ending in \".partial\"");
}

std::string manifest_json(const Manifest& manifest) {
  std::ostringstream json;
  json << "{\"format\": \"strata-checkpoint\", \"format_version\": " << manifest.format_version
       << ", \"tag\": " << json_string(manifest.tag)
       << ",\n \"layout\": {\"world_size\": " << manifest.layout.world_size
       << ", \"zero_stage\": " << manifest.layout.zero_stage << ", \"partitioning\": {";
  const char* separator = "";
  for (const auto& [key, value] : manifest.layout.partitioning) {
    json << separator << json_string(key) << ": " << value;
    separator = ", ";
  }
  json << "}},\n \"files\": [";
  separator = "\n  ";
  for (const ManifestEntry& entry : manifest.entries) {
    json << separator << "{\"file\": " << json_string(entry.file) << ", \"kind\": \""
         << kind_name(entry.kind) << "\", \"name\": " << json_string(entry.name)
         << ", \"rank\": " << (entry.rank ? std::to_string(*entry.rank) : "null")
         << ", \"size\": " << entry.digest.size << ", \"crc32\": \""
         << crc32_hex(entry.digest.crc32) << '"';
    if (entry.kind == EntryKind::tensors) {
      json << ",\n   \"tensors\": [";
      const char* tensor_separator = "";
      for (const TensorSpec& tensor : entry.tensors) {
        json << tensor_separator << "{\"name\": " << json_string(tensor.name) << ", \"dtype\": \""
             << safetensors_dtype_name(tensor.dtype) << "\", \"shape\": [";
        for (size_t d = 0; d < tensor.shape.size(); ++d) json << (d ? ", " : "") << tensor.shape[d];
        json << "]}";
        tensor_separator = ",\n    ";
      }
      json << ']';
    }
    json << '}';
    separator = ",\n  ";
  }
  json << "]}\n";
  return json.str();
}

Manifest parse_manifest(const std::string& json, const std::filesystem::path& path) {
  YAML::Node root;
  try {
    root = YAML::Load(json);
  } catch (const YAML::Exception& e) {
    fail("load_checkpoint: ", path, " is not valid JSON (", e.what(),
         "); the manifest is damaged: load an earlier tag");
  }
  STRATA_CHECK(
      root.IsMap() && root["format"] && root["format"].as<std::string>("") == "strata-checkpoint",
      "load_checkpoint: ", path,
      " is not a Strata checkpoint manifest (no \"format\": \"strata-checkpoint\")");
  Manifest manifest;
  try {
    manifest.format_version = required(root, "format_version", "the manifest", path).as<int>();
    STRATA_CHECK(
        manifest.format_version >= 1 && manifest.format_version <= kCheckpointFormatVersion,
        "load_checkpoint: ", path, " has format version ", manifest.format_version,
        "; this build of Strata reads versions 1 to ", kCheckpointFormatVersion,
        " (was it written by a newer Strata?)");
    manifest.tag = required(root, "tag", "the manifest", path).as<std::string>();
    YAML::Node layout = required(root, "layout", "the manifest", path);
    manifest.layout.world_size = required(layout, "world_size", "the layout", path).as<int64_t>();
    manifest.layout.zero_stage = required(layout, "zero_stage", "the layout", path).as<int64_t>();
    for (const auto& item : required(layout, "partitioning", "the layout", path)) {
      manifest.layout.partitioning[item.first.as<std::string>()] = item.second.as<int64_t>();
    }
    std::set<std::string> files;
    for (const YAML::Node& node : required(root, "files", "the manifest", path)) {
      ManifestEntry entry;
      entry.file = required(node, "file", "a file entry", path).as<std::string>();
      std::string where = "the entry of " + entry.file;
      std::string kind = required(node, "kind", where, path).as<std::string>();
      STRATA_CHECK(kind == "tensors" || kind == "section", "load_checkpoint: ", path, ": ", where,
                   " has kind \"", kind, "\" (expected \"tensors\" or \"section\")");
      entry.kind = kind == "tensors" ? EntryKind::tensors : EntryKind::section;
      entry.name = required(node, "name", where, path).as<std::string>();
      YAML::Node rank = required(node, "rank", where, path);
      if (!rank.IsNull()) entry.rank = rank.as<int>();
      entry.digest.size = required(node, "size", where, path).as<uint64_t>();
      entry.digest.crc32 = static_cast<uint32_t>(
          std::stoul(required(node, "crc32", where, path).as<std::string>(), nullptr, 16));
      // The file must be the one its name, rank and kind give: no other paths are ever opened.
      STRATA_CHECK(entry.file == checkpoint_file_name(entry.kind, entry.name, entry.rank) &&
                       files.insert(entry.file).second,
                   "load_checkpoint: ", path, ": ", where,
                   " names a file outside the checkpoint layout or twice");
      if (entry.kind == EntryKind::tensors) {
        for (const YAML::Node& tensor : required(node, "tensors", where, path)) {
          TensorSpec spec;
          spec.name = required(tensor, "name", where, path).as<std::string>();
          spec.dtype = dtype_from_safetensors_name(
              required(tensor, "dtype", where, path).as<std::string>(), path);
          for (const YAML::Node& size : required(tensor, "shape", where, path)) {
            spec.shape.push_back(size.as<int64_t>());
          }
          entry.tensors.push_back(std::move(spec));
        }
      }
      manifest.entries.push_back(std::move(entry));
    }
  } catch (const YAML::Exception& e) {
    fail("load_checkpoint: ", path, ": a manifest field has the wrong type (", e.what(),
         "); the manifest is damaged: load an earlier tag");
  } catch (const std::logic_error& e) {  // std::stoul on a malformed crc32
    fail("load_checkpoint: ", path, ": a crc32 is not hexadecimal (", e.what(), ")");
  }
  return manifest;
}

}  // namespace strata::io
