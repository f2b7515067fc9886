// Small helpers shared by the test files.
#pragma once

#include <functional>
#include <string>

#include "core/error.hpp"

namespace strata::test {

// The message of the strata::Error that fn throws ("" when it throws none).
inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace strata::test
