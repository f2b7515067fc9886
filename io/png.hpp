// PNG files from RGB images: 8-bit truecolour, one IDAT chunk deflated by zlib.
#pragma once

#include <filesystem>
#include <string>

#include "io/raster.hpp"

namespace strata::io {

// The bytes of a PNG file holding image.
std::string encode_png(const Image& image);

// Writes image to path as PNG: to a temporary name first, then renamed over path, so a reader
// never sees a half-written file.
void write_png(const std::filesystem::path& path, const Image& image);

}  // namespace strata::io
