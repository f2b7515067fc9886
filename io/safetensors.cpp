// safetensors writer and reader; the header is JSON, parsed with yaml-cpp (JSON is YAML).
#include "io/safetensors.hpp"

#include <yaml-cpp/yaml.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/file.hpp"
#include "io/json_string.hpp"

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace strata::io {

namespace {

constexpr std::pair<DType, const char*> kDtypeNames[] = {
    {DType::f64, "F64"}, {DType::f32, "F32"}, {DType::f16, "F16"},      {DType::bf16, "BF16"},
    {DType::i64, "I64"}, {DType::i32, "I32"}, {DType::boolean, "BOOL"},
};

}  // namespace

const char* safetensors_dtype_name(DType dtype) {
  for (auto [d, name] : kDtypeNames) {
    if (d == dtype) return name;
  }
  fail("save_safetensors: dtype ", dtype_name(dtype), " has no safetensors name");
}

DType dtype_from_safetensors_name(const std::string& name, const std::filesystem::path& where) {
  for (auto [d, n] : kDtypeNames) {
    if (name == n) return d;
  }
  fail("load_safetensors: ", where, ": dtype \"", name,
       "\" is not supported (expected F64, F32, F16, BF16, I64, I32 or BOOL)");
}

FileDigest save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                            const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> host;
  std::set<std::string> names;
  std::ostringstream header;
  header << '{';
  if (!metadata.empty()) {
    header << "\"__metadata__\":{";
    bool first = true;
    for (const auto& [key, value] : metadata) {
      header << (first ? "" : ",") << json_string(key) << ':' << json_string(value);
      first = false;
    }
    header << "},";
  }
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, tensor] = tensors[i];
    STRATA_CHECK(!name.empty() && name != "__metadata__", "save_safetensors: tensor ", i,
                 " has the reserved or empty name \"", name, "\"");
    STRATA_CHECK(names.insert(name).second, "save_safetensors: the name \"", name,
                 "\" appears twice; names must be unique");
    STRATA_CHECK(tensor.defined(), "save_safetensors: tensor \"", name, "\" is undefined");
    host.push_back(tensor.detach().to(Device::cpu()).contiguous());
    uint64_t nbytes = host.back().nbytes();
    header << (i ? "," : "") << json_string(name) << ":{\"dtype\":\""
           << safetensors_dtype_name(tensor.dtype()) << "\",\"shape\":[";
    for (int64_t d = 0; d < tensor.dim(); ++d) header << (d ? "," : "") << tensor.size(d);
    header << "],\"data_offsets\":[" << offset << ',' << offset + nbytes << "]}";
    offset += nbytes;
  }
  header << '}';
  std::string json = header.str();
  json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  uint64_t header_size = json.size();

  AtomicFile file(path, "save_safetensors");
  file.write(&header_size, sizeof header_size);
  file.write(json);
  for (const Tensor& tensor : host) file.write(tensor.data_ptr(), tensor.nbytes());
  file.commit();
  return file.digest();
}

Safetensors load_safetensors(const std::filesystem::path& path) {
  require_regular_file(path, "load_safetensors");
  const uint64_t file_size = std::filesystem::file_size(path);
  std::ifstream in(path, std::ios::binary);
  STRATA_CHECK(in, "load_safetensors: cannot open ", path);
  uint64_t header_size = 0;
  STRATA_CHECK(file_size >= 8 && in.read(reinterpret_cast<char*>(&header_size), 8),
               "load_safetensors: ", path, " is too short for a safetensors file (", file_size,
               " bytes)");
  STRATA_CHECK(header_size <= file_size - 8 && header_size < (uint64_t{100} << 20),
               "load_safetensors: ", path, " declares a ", header_size,
               "-byte header in a file of ", file_size,
               " bytes; the file is truncated or not safetensors");
  std::string json(header_size, '\0');
  in.read(json.data(), static_cast<std::streamsize>(header_size));
  YAML::Node header;
  try {
    header = YAML::Load(json);
  } catch (const YAML::Exception& e) {
    fail("load_safetensors: ", path, ": the header is not valid JSON: ", e.what());
  }
  STRATA_CHECK(header.IsMap(), "load_safetensors: ", path, ": the header is not a JSON object");

  const uint64_t data_size = file_size - 8 - header_size;
  struct Entry {
    uint64_t begin, end;
    std::string name;
    DType dtype;
    Shape shape;
  };
  std::vector<Entry> entries;
  Safetensors result;
  for (const auto& item : header) {
    std::string name = item.first.as<std::string>();
    if (name == "__metadata__") {
      for (const auto& kv : item.second) {
        result.metadata[kv.first.as<std::string>()] = kv.second.as<std::string>();
      }
      continue;
    }
    const YAML::Node& info = item.second;
    STRATA_CHECK(info.IsMap() && info["dtype"] && info["shape"] && info["data_offsets"] &&
                     info["data_offsets"].size() == 2,
                 "load_safetensors: ", path, ": tensor \"", name,
                 "\" lacks dtype, shape or a [begin, end] data_offsets");
    Entry entry{info["data_offsets"][0].as<uint64_t>(),
                info["data_offsets"][1].as<uint64_t>(),
                name,
                dtype_from_safetensors_name(info["dtype"].as<std::string>(), path),
                {}};
    for (const auto& size : info["shape"]) entry.shape.push_back(size.as<int64_t>());
    uint64_t expected = static_cast<uint64_t>(shape_numel(entry.shape)) * element_size(entry.dtype);
    STRATA_CHECK(entry.begin <= entry.end && entry.end - entry.begin == expected,
                 "load_safetensors: ", path, ": tensor \"", name, "\" of shape ",
                 shape_str(entry.shape), " needs ", expected, " bytes but its data_offsets span [",
                 entry.begin, ", ", entry.end, ")");
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t expected_begin = 0;
  for (const Entry& entry : entries) {
    STRATA_CHECK(entry.begin == expected_begin, "load_safetensors: ", path, ": tensor \"",
                 entry.name, "\" starts at byte ", entry.begin,
                 " of the data but the previous one ", "ends at ", expected_begin,
                 " (gap or overlap: the file is corrupt)");
    expected_begin = entry.end;
  }
  STRATA_CHECK(expected_begin == data_size, "load_safetensors: ", path, ": the tensors cover ",
               expected_begin, " bytes but the file holds ", data_size,
               " bytes of data (truncated or trailing bytes)");
  for (const Entry& entry : entries) {
    Tensor tensor(Storage(entry.end - entry.begin, Device::cpu()), entry.shape,
                  contiguous_strides(entry.shape), 0, entry.dtype);
    in.read(static_cast<char*>(tensor.data_ptr()), static_cast<std::streamsize>(tensor.nbytes()));
    STRATA_CHECK(in, "load_safetensors: ", path, ": reading tensor \"", entry.name, "\" failed");
    result.tensors.emplace_back(entry.name, tensor);
  }
  return result;
}

}  // namespace strata::io
