// Reader for IDX files, the format of MNIST and Fashion-MNIST: a magic of four bytes {0, 0, type
// code, rank}, `rank` big-endian u32 sizes, then the values, big-endian and row-major. Plain and
// gzip'd files are both read (zlib's gzread passes plain files through).
//
// Element types: Strata has no 8- or 16-bit integer dtype, so every IDX integer type (u8 0x08, i8
// 0x09, i16 0x0B, i32 0x0C) is read as i32, which holds all of their values exactly (bool would
// not, and a float would hide that the values are integers, such as class labels). f32 (0x0D) and
// f64 (0x0E) are read as f32 and f64.
#pragma once

#include <filesystem>

#include "core/tensor.hpp"

namespace strata::io {

// The array stored at path, on the CPU, with the IDX file's shape. Throws strata::Error naming
// the file when it is missing, is not IDX, is truncated, or holds more bytes than its header says.
Tensor read_idx(const std::filesystem::path& path);

}  // namespace strata::io
