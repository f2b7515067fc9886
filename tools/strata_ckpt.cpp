// strata-ckpt: looks into checkpoints (io/checkpoint_reader.hpp) and converts them.
// - `strata-ckpt inspect DIR [TAG]` prints the manifest (layout, each group's tensors with dtypes
//   and shapes, each JSON section: counters, scheduler, config, ...) and verifies every file's size
//   and CRC-32.
// - `strata-ckpt to-fp32 DIR [TAG] OUT.safetensors` writes the model's f32 master weights by module
//   name into one safetensors file, from a checkpoint of any ZeRO stage and world size, streaming
//   shard by shard (zero/consolidate.hpp).
// Exit status: 0 on success, 1 when the checkpoint cannot be opened or read or a file is damaged,
// 2 on a usage error.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/checkpoint_reader.hpp"
#include "io/command_line.hpp"
#include "io/file.hpp"
#include "zero/consolidate.hpp"

namespace {

using namespace strata;

void print_entry_header(const io::ManifestEntry& entry) {
  std::printf("\n%s (%s, %llu bytes, crc32 %s)",
              io::describe_entry(entry.kind, entry.name, entry.rank).c_str(), entry.file.c_str(),
              static_cast<unsigned long long>(entry.digest.size),
              io::crc32_hex(entry.digest.crc32).c_str());
}

void print_tensors(const io::ManifestEntry& entry) {
  int64_t elements = 0;
  size_t width = 0;
  for (const io::TensorSpec& tensor : entry.tensors) {
    elements += shape_numel(tensor.shape);
    width = std::max(width, tensor.name.size());
  }
  std::printf(": %zu tensors, %lld elements\n", entry.tensors.size(),
              static_cast<long long>(elements));
  for (const io::TensorSpec& tensor : entry.tensors) {
    std::printf("  %-*s  %-4s  %s\n", static_cast<int>(width), tensor.name.c_str(),
                io::safetensors_dtype_name(tensor.dtype), shape_str(tensor.shape).c_str());
  }
}

void print_section(const io::CheckpointReader& reader, const io::ManifestEntry& entry,
                   int64_t max_chars) {
  std::string json = reader.read_section(entry.name, entry.rank);
  while (!json.empty() && (json.back() == '\n' || json.back() == ' ')) json.pop_back();
  std::printf(":\n  ");
  if (max_chars > 0 && json.size() > static_cast<size_t>(max_chars)) {
    std::printf("%s ... (%zu more characters; --section-chars 0 prints all)\n",
                json.substr(0, static_cast<size_t>(max_chars)).c_str(), json.size() - max_chars);
  } else {
    std::printf("%s\n", json.c_str());
  }
}

int inspect(const std::string& dir, const std::string& tag, int64_t section_chars) {
  io::CheckpointReader reader(dir, tag);
  const io::Manifest& manifest = reader.manifest();
  std::string latest;
  if (std::filesystem::exists(std::filesystem::path(dir) / io::kLatestFileName)) {
    latest = io::read_file(std::filesystem::path(dir) / io::kLatestFileName, "strata-ckpt");
  }
  std::printf("checkpoint %s\n", reader.path().c_str());
  std::printf("tag %s%s, saved as %s, format version %d\n", reader.tag().c_str(),
              latest == reader.tag() + "\n" ? " (latest)" : "", manifest.tag.c_str(),
              manifest.format_version);
  std::printf("layout: world size %lld, ZeRO stage %lld, partitioning:",
              static_cast<long long>(manifest.layout.world_size),
              static_cast<long long>(manifest.layout.zero_stage));
  for (const auto& [key, value] : manifest.layout.partitioning) {
    std::printf(" %s=%lld", key.c_str(), static_cast<long long>(value));
  }
  std::printf("%s\n", manifest.layout.partitioning.empty() ? " none" : "");

  std::vector<std::string> damaged;
  for (const io::ManifestEntry& entry : manifest.entries) {
    std::string damage = reader.file_damage(entry);
    print_entry_header(entry);
    if (entry.kind == io::EntryKind::tensors) {
      print_tensors(entry);
    } else if (damage.empty()) {
      print_section(reader, entry, section_chars);
    } else {
      std::printf("\n");
    }
    if (!damage.empty()) {
      std::printf("  DAMAGED: %s\n", damage.c_str());
      damaged.push_back(std::move(damage));
    }
  }
  if (damaged.empty()) {
    std::printf("\nverified %zu files: every size and CRC-32 matches the manifest\n",
                manifest.entries.size());
    return 0;
  }
  std::fflush(stdout);  // the listing first, then the verdict, when both go to one terminal
  std::fprintf(stderr, "\nstrata-ckpt: %zu of %zu files of %s are damaged:\n", damaged.size(),
               manifest.entries.size(), reader.path().c_str());
  for (const std::string& damage : damaged) std::fprintf(stderr, "  %s\n", damage.c_str());
  return 1;
}

int to_fp32(const std::string& dir, const std::string& tag, const std::string& out) {
  const zero::ConsolidateResult result = zero::consolidate_fp32(dir, tag, out, &std::cout);
  std::printf("wrote %s: %lld f32 tensors, %lld elements, from %d optimizer shard%s\n", out.c_str(),
              static_cast<long long>(result.tensors), static_cast<long long>(result.elements),
              result.shards, result.shards == 1 ? "" : "s");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string command, dir, third, fourth;
  int64_t section_chars = 2000;
  io::CommandLine cli(
      "strata-ckpt",
      "Looks into and converts Strata checkpoints. Commands:\n"
      "  inspect DIR [TAG]                 prints the manifest (layout, tensors with dtypes and\n"
      "                                    shapes, JSON sections such as counters and config) and\n"
      "                                    verifies every file's size and CRC-32\n"
      "  to-fp32 DIR [TAG] OUT.safetensors writes the model's f32 master weights (from the\n"
      "                                    optimizer shards, not the 16-bit weights) by module\n"
      "                                    name into one safetensors file, from a checkpoint of\n"
      "                                    any ZeRO stage and world size (DeepSpeed's "
      "zero_to_fp32),\n"
      "                                    streaming: memory stays near 16 MiB whatever the model\n"
      "TAG defaults to the one DIR/latest names.\nExit status: 0 on success, 1 when the "
      "checkpoint cannot be opened or read or a file is damaged, 2 on a usage error.");
  cli.positional("COMMAND", command, "inspect or to-fp32");
  cli.positional("DIR", dir, "the checkpoint directory, as given to save_checkpoint");
  cli.positional("TAG", third, "the tag (default: the one DIR/latest names)", /*required=*/false);
  cli.positional("OUT", fourth, "to-fp32: the safetensors file to write", /*required=*/false);
  cli.flag("section-chars", section_chars,
           "inspect: print at most this many characters of each JSON section (0: all)");
  cli.parse(argc, argv);
  std::string tag = third, out;
  if (command == "to-fp32") {
    // The tag is optional before OUT: one argument after DIR is OUT.
    out = fourth.empty() ? third : fourth;
    tag = fourth.empty() ? "" : third;
    if (out.empty()) {
      std::fprintf(stderr,
                   "strata-ckpt: to-fp32 needs the output file: strata-ckpt to-fp32 DIR "
                   "[TAG] OUT.safetensors\n");
      return 2;
    }
  } else if (command != "inspect" || !fourth.empty()) {
    std::fprintf(stderr,
                 command == "inspect"
                     ? "strata-ckpt: inspect takes DIR [TAG]\n"
                     : "strata-ckpt: unknown command \"%s\" (the commands are inspect "
                       "and to-fp32)\n",
                 command.c_str());
    return 2;
  }
  try {
    return command == "inspect" ? inspect(dir, tag, section_chars) : to_fp32(dir, tag, out);
  } catch (const Error& e) {
    std::fprintf(stderr, "strata-ckpt: %s\n", e.what());
    return 1;
  }
}
