// Named tensors in the safetensors format (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length, a JSON header mapping each name to its dtype, shape and byte
// range, then the raw little-endian data. Model weights are stored this way (design decision 9)
// so that other tools can read them.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "io/checksum.hpp"

namespace strata::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

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

// The format's dtype names ("F32", "BF16", ...), which checkpoint manifests use too.
const char* safetensors_dtype_name(DType dtype);
// The dtype of a name; `where` names the file in the error for an unknown one.
DType dtype_from_safetensors_name(const std::string& name, const std::filesystem::path& where);

}  // namespace strata::io
