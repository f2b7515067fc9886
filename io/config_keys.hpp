// Every key of the training config (io/config.hpp) with its type, default and status: the one table
// that says what Strata does with a DeepSpeed key. docs/CONFIG.md's key table is
// config_keys_markdown(), checked by a test.
#pragma once

#include <string>
#include <vector>

namespace strata::io {

enum class KeyStatus {
  built,    // Strata does what the key says
  unbuilt,  // switches on a feature Strata does not have: accepted only at an off value
  setting,  // a setting of an unbuilt feature: checked, no effect until the feature lands
  inert,    // accepted, no effect by design (the reason is given)
};

struct ConfigKey {
  std::string path;  // "fp16.loss_scale"; sections that are not modelled: "sparse_attention"
  std::string type;  // "integer", "number", "boolean", "string", "[number, number]", "object"
  std::string default_value;  // as JSON, or in words ("required", "optimizer's lr")
  std::string applies_to;     // optimizer and scheduler params: the types they belong to
  KeyStatus status = KeyStatus::built;
  std::string feature;           // unbuilt/setting: the missing feature; inert: why it does nothing
  std::vector<std::string> off;  // unbuilt: the accepted values, as JSON
  std::string note;
};

// The table, in the order of DeepSpeed's documentation.
std::vector<ConfigKey> config_keys();
// The table as Markdown (the key table of docs/CONFIG.md).
std::string config_keys_markdown();

}  // namespace strata::io
