// nanoGPT/llm.c token files (.bin): a header of 256 little-endian int32 (magic 20240520,
// version 1, the token count; the rest zero), then the tokens as little-endian uint16.
#pragma once

#include <cstdint>
#include <filesystem>

#include "core/tensor.hpp"

namespace strata::io {

inline constexpr int32_t kTokenFileMagic = 20240520;
inline constexpr int32_t kTokenFileVersion = 1;
inline constexpr int64_t kTokenFileHeaderBytes = 256 * 4;

// The tokens of the file as i32 [n] on the CPU: i32 holds every uint16 exactly at half the size
// of i64 (a shard holds ~100M tokens). Throws naming the file when the magic, the version or the
// length disagree with the header.
Tensor read_token_file(const std::filesystem::path& path);

// Writes tokens (an integer tensor of any shape, read row-major, values in [0, 65536)).
void write_token_file(const std::filesystem::path& path, const Tensor& tokens);

}  // namespace strata::io
