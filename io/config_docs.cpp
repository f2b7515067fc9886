// config_keys_markdown: the key table of docs/CONFIG.md, written from config_keys().
#include <sstream>

#include "io/config_keys.hpp"

namespace strata::io {

namespace {

std::string status_text(const ConfigKey& key) {
  switch (key.status) {
    case KeyStatus::built: return "built";
    case KeyStatus::unbuilt: {
      std::string off;
      for (const std::string& value : key.off) off += (off.empty() ? "`" : ", `") + value + "`";
      return "**not built** (" + key.feature + "): only " + off;
    }
    case KeyStatus::setting: return "setting of " + key.feature + ": no effect yet";
    case KeyStatus::inert: return "no effect: " + key.feature;
  }
  return "";
}

}  // namespace

std::string config_keys_markdown() {
  std::ostringstream out;
  out << "| Key | Type | Default | Status | Notes |\n|---|---|---|---|---|\n";
  for (const ConfigKey& key : config_keys()) {
    out << "| `" << key.path << "`";
    if (!key.applies_to.empty()) out << " (" << key.applies_to << ")";
    out << " | " << key.type << " | `" << key.default_value << "` | " << status_text(key) << " | "
        << key.note << " |\n";
  }
  return out.str();
}

}  // namespace strata::io
