// A string as a JSON string literal: quotes and backslashes escaped, control characters as \u00hh,
// UTF-8 passed through. For the JSON that io/ writes (metrics logs, safetensors headers).
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace strata::io {

inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      out += escape;
    } else {
      out += c;
    }
  }
  return out + '"';
}

}  // namespace strata::io
