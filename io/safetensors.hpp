// Named tensors in the safetensors format (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length, a JSON header mapping each name to its dtype, shape and byte
// range, then the raw little-endian data. Model weights are stored this way (design decision 9)
// so that other tools can read them.
//
// Whole files: save_safetensors / load_safetensors. Streaming, for files larger than the memory
// one wants to spend (checkpoint shards, consolidated models): SafetensorsFile reads any range of
// any tensor on demand, and SafetensorsWriter writes the header first and then the data in parts,
// so neither ever holds more than the caller's part.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "io/atomic_file.hpp"
#include "io/checksum.hpp"

namespace strata::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What a tensor is, without its data: what a header or a checkpoint manifest lists.
struct TensorSpec {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  bool operator==(const TensorSpec&) const = default;
};

struct Safetensors {
  NamedTensors tensors;                         // in file order; CPU, contiguous
  std::map<std::string, std::string> metadata;  // the header's "__metadata__"
};

// Writes atomically (temporary name, fsync, rename). Tensors may live on any device and have any
// strides; names must be unique and non-empty. Returns the size and CRC-32 of the file written.
FileDigest save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                            const std::map<std::string, std::string>& metadata = {});

// Reads every tensor, checking the header against the file: known dtypes, sizes that match the
// byte ranges, ranges that tile the data without gaps or overlaps.
Safetensors load_safetensors(const std::filesystem::path& path);

// A safetensors file opened for partial reads: the header is parsed and checked against the file
// size when it opens (as load_safetensors checks it), and data is read only when asked for.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;

  const std::filesystem::path& path() const { return path_; }
  // The tensors in file order.
  const std::vector<TensorSpec>& tensors() const { return specs_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The spec of tensor `name`; throws naming the file when it has none.
  const TensorSpec& spec(const std::string& name) const;
  // Elements [begin, begin + count) of tensor `name` (flat, in its own dtype) into `out`.
  void read(const std::string& name, int64_t begin, int64_t count, void* out) const;
  // The whole tensor, on the CPU.
  Tensor read(const std::string& name) const;

 private:
  size_t index(const std::string& name) const;
  void read_bytes(uint64_t offset, uint64_t nbytes, void* out) const;

  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<TensorSpec> specs_;
  std::vector<uint64_t> offsets_;  // each tensor's first byte in the file
  std::map<std::string, size_t> by_name_;
  std::map<std::string, std::string> metadata_;
};

// Writes a safetensors file whose tensors are known in advance: the header goes out first, then
// each tensor's data in order, in parts of any size, to a temporary name that commit() fsyncs and
// renames (io/atomic_file.hpp).
//
//   SafetensorsWriter out(path, {{"w", DType::f32, {4, 3}}});
//   out.write(rows_0_to_1);  out.write(rows_2_to_3);   // any device, any strides
//   FileDigest digest = out.commit();
class SafetensorsWriter {
 public:
  SafetensorsWriter(const std::filesystem::path& path, std::vector<TensorSpec> tensors,
                    const std::map<std::string, std::string>& metadata = {});
  // The next elements of the current tensor, in its dtype; a part may not run past its end.
  void write(const Tensor& part);
  // Throws unless every tensor was written in full; returns the file's size and CRC-32.
  FileDigest commit();

 private:
  void skip_finished();

  AtomicFile file_;
  std::vector<TensorSpec> specs_;
  size_t current_ = 0;
  int64_t written_ = 0;  // elements of the current tensor written so far
};

// The names, dtypes and shapes of tensors.
std::vector<TensorSpec> specs_of(const NamedTensors& tensors);

// The format's dtype names ("F32", "BF16", ...), which checkpoint manifests use too.
const char* safetensors_dtype_name(DType dtype);
// The dtype of a name; `where` names the file in the error for an unknown one.
DType dtype_from_safetensors_name(const std::string& name, const std::filesystem::path& where);

}  // namespace strata::io
