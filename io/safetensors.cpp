// safetensors writer and reader; the header is JSON, parsed with yaml-cpp (JSON is YAML).
#include "io/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include "core/error.hpp"
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

namespace {

// The header of a file holding `specs` in order, padded so the data starts 8-byte aligned.
std::string header_json(const std::vector<TensorSpec>& specs,
                        const std::map<std::string, std::string>& metadata) {
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
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& spec = specs[i];
    STRATA_CHECK(!spec.name.empty() && spec.name != "__metadata__", "save_safetensors: tensor ", i,
                 " has the reserved or empty name \"", spec.name, "\"");
    STRATA_CHECK(names.insert(spec.name).second, "save_safetensors: the name \"", spec.name,
                 "\" appears twice; names must be unique");
    const uint64_t nbytes =
        static_cast<uint64_t>(shape_numel(spec.shape)) * element_size(spec.dtype);
    header << (i ? "," : "") << json_string(spec.name) << ":{\"dtype\":\""
           << safetensors_dtype_name(spec.dtype) << "\",\"shape\":[";
    for (size_t d = 0; d < spec.shape.size(); ++d) header << (d ? "," : "") << spec.shape[d];
    header << "],\"data_offsets\":[" << offset << ',' << offset + nbytes << "]}";
    offset += nbytes;
  }
  header << '}';
  std::string json = header.str();
  json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  return json;
}

}  // namespace

SafetensorsWriter::SafetensorsWriter(const std::filesystem::path& path,
                                     std::vector<TensorSpec> tensors,
                                     const std::map<std::string, std::string>& metadata)
    : file_(path, "save_safetensors"), specs_(std::move(tensors)) {
  const std::string json = header_json(specs_, metadata);
  const uint64_t header_size = json.size();
  file_.write(&header_size, sizeof header_size);
  file_.write(json);
  skip_finished();
}

void SafetensorsWriter::skip_finished() {
  while (current_ < specs_.size() && written_ == shape_numel(specs_[current_].shape)) {
    ++current_;
    written_ = 0;
  }
}

void SafetensorsWriter::write(const Tensor& part) {
  if (part.numel() == 0) return;  // an empty tensor's data, or an empty part
  STRATA_CHECK(current_ < specs_.size(), "save_safetensors: a part of ", part.numel(),
               " elements after every tensor was written in full");
  const TensorSpec& spec = specs_[current_];
  const int64_t left = shape_numel(spec.shape) - written_;
  STRATA_CHECK(part.dtype() == spec.dtype && part.numel() <= left, "save_safetensors: tensor \"",
               spec.name, "\" (", dtype_name(spec.dtype), ") has ", left,
               " elements left to write, and was given a part of ", part.numel(), " elements of ",
               dtype_name(part.dtype()));
  const Tensor host = part.detach().to(Device::cpu()).contiguous();
  file_.write(host.data_ptr(), host.nbytes());
  written_ += part.numel();
  skip_finished();
}

FileDigest SafetensorsWriter::commit() {
  STRATA_CHECK(current_ == specs_.size(), "save_safetensors: tensor \"",
               current_ < specs_.size() ? specs_[current_].name : "", "\" has ", written_, " of ",
               current_ < specs_.size() ? shape_numel(specs_[current_].shape) : 0,
               " elements written; every tensor must be written in full before commit");
  file_.commit();
  return file_.digest();
}

FileDigest save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                            const std::map<std::string, std::string>& metadata) {
  for (size_t i = 0; i < tensors.size(); ++i)
    STRATA_CHECK(tensors[i].second.defined(), "save_safetensors: tensor \"", tensors[i].first,
                 "\" is undefined");
  SafetensorsWriter writer(path, specs_of(tensors), metadata);
  for (const auto& [name, tensor] : tensors) writer.write(tensor);
  return writer.commit();
}

std::vector<TensorSpec> specs_of(const NamedTensors& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, tensor] : tensors)
    specs.push_back({name, tensor.defined() ? tensor.dtype() : DType::f32,
                     tensor.defined() ? tensor.shape() : Shape{}});
  return specs;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : path_(path) {
  require_regular_file(path, "load_safetensors");
  const uint64_t file_size = std::filesystem::file_size(path);
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  STRATA_CHECK(fd_ >= 0, "load_safetensors: cannot open ", path, ": ", std::strerror(errno));
  uint64_t header_size = 0;
  STRATA_CHECK(file_size >= 8, "load_safetensors: ", path, " is too short for a safetensors file (",
               file_size, " bytes)");
  read_bytes(0, 8, &header_size);
  STRATA_CHECK(header_size <= file_size - 8 && header_size < (uint64_t{100} << 20),
               "load_safetensors: ", path, " declares a ", header_size,
               "-byte header in a file of ", file_size,
               " bytes; the file is truncated or not safetensors");
  std::string json(header_size, '\0');
  read_bytes(8, header_size, json.data());
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
    TensorSpec spec;
  };
  std::vector<Entry> entries;
  for (const auto& item : header) {
    std::string name = item.first.as<std::string>();
    if (name == "__metadata__") {
      for (const auto& kv : item.second) {
        metadata_[kv.first.as<std::string>()] = kv.second.as<std::string>();
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
                {name, dtype_from_safetensors_name(info["dtype"].as<std::string>(), path), {}}};
    for (const auto& size : info["shape"]) entry.spec.shape.push_back(size.as<int64_t>());
    uint64_t expected =
        static_cast<uint64_t>(shape_numel(entry.spec.shape)) * element_size(entry.spec.dtype);
    STRATA_CHECK(entry.begin <= entry.end && entry.end - entry.begin == expected,
                 "load_safetensors: ", path, ": tensor \"", name, "\" of shape ",
                 shape_str(entry.spec.shape), " needs ", expected,
                 " bytes but its data_offsets span [", entry.begin, ", ", entry.end, ")");
    entries.push_back(std::move(entry));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  uint64_t expected_begin = 0;
  for (const Entry& entry : entries) {
    STRATA_CHECK(entry.begin == expected_begin, "load_safetensors: ", path, ": tensor \"",
                 entry.spec.name, "\" starts at byte ", entry.begin,
                 " of the data but the previous one ", "ends at ", expected_begin,
                 " (gap or overlap: the file is corrupt)");
    expected_begin = entry.end;
  }
  STRATA_CHECK(expected_begin == data_size, "load_safetensors: ", path, ": the tensors cover ",
               expected_begin, " bytes but the file holds ", data_size,
               " bytes of data (truncated or trailing bytes)");
  for (Entry& entry : entries) {
    by_name_[entry.spec.name] = specs_.size();
    offsets_.push_back(8 + header_size + entry.begin);
    specs_.push_back(std::move(entry.spec));
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      specs_(std::move(other.specs_)),
      offsets_(std::move(other.offsets_)),
      by_name_(std::move(other.by_name_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    specs_ = std::move(other.specs_);
    offsets_ = std::move(other.offsets_);
    by_name_ = std::move(other.by_name_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

void SafetensorsFile::read_bytes(uint64_t offset, uint64_t nbytes, void* out) const {
  char* bytes = static_cast<char*>(out);
  while (nbytes > 0) {
    const ssize_t got = ::pread(fd_, bytes, nbytes, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    STRATA_CHECK(got > 0, "load_safetensors: reading ", path_, " at byte ", offset,
                 " failed: ", got == 0 ? "the file ends there (truncated)" : std::strerror(errno));
    bytes += got;
    offset += static_cast<uint64_t>(got);
    nbytes -= static_cast<uint64_t>(got);
  }
}

size_t SafetensorsFile::index(const std::string& name) const {
  auto it = by_name_.find(name);
  STRATA_CHECK(it != by_name_.end(), "load_safetensors: ", path_, " holds no tensor \"", name,
               "\"");
  return it->second;
}

const TensorSpec& SafetensorsFile::spec(const std::string& name) const {
  return specs_[index(name)];
}

void SafetensorsFile::read(const std::string& name, int64_t begin, int64_t count, void* out) const {
  const size_t i = index(name);
  const TensorSpec& spec = specs_[i];
  STRATA_CHECK(begin >= 0 && count >= 0 && begin + count <= shape_numel(spec.shape),
               "load_safetensors: elements [", begin, ", ", begin + count, ") of tensor \"", name,
               "\" ", shape_str(spec.shape), " in ", path_, " are out of range");
  const size_t size = element_size(spec.dtype);
  read_bytes(offsets_[i] + static_cast<uint64_t>(begin) * size, static_cast<uint64_t>(count) * size,
             out);
}

Tensor SafetensorsFile::read(const std::string& name) const {
  const TensorSpec& spec = specs_[index(name)];
  Tensor tensor(Storage(static_cast<size_t>(shape_numel(spec.shape)) * element_size(spec.dtype),
                        Device::cpu()),
                spec.shape, contiguous_strides(spec.shape), 0, spec.dtype);
  read(name, 0, tensor.numel(), tensor.data_ptr());
  return tensor;
}

Safetensors load_safetensors(const std::filesystem::path& path) {
  SafetensorsFile file(path);
  Safetensors result;
  result.metadata = file.metadata();
  for (const TensorSpec& spec : file.tensors())
    result.tensors.emplace_back(spec.name, file.read(spec.name));
  return result;
}

}  // namespace strata::io
