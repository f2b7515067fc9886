// Config: the checks every config passes (from a file or built in C++), the batch triad, the
// defaults resolve() fills in, and the JSON it prints.
#include "io/config.hpp"

#include <algorithm>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "io/closest_match.hpp"
#include "io/config_schema.hpp"
#include "io/json_string.hpp"

namespace strata::io {

namespace {

using config_schema::KeySpec;
using config_schema::Problems;

bool applies(const KeySpec& spec, const std::string& type) {
  return std::find(spec.types.begin(), spec.types.end(), type) != spec.types.end();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

// The status rule of one key: an unbuilt feature's key must hold one of its off values.
void check_status(const KeySpec& spec, const Config& config, Problems& problems) {
  if (spec.info.status != KeyStatus::unbuilt || spec.section) return;
  std::string value = spec.json(config);
  const std::vector<std::string>& off = spec.info.off;
  if (std::find(off.begin(), off.end(), value) != off.end()) return;
  problems.add_unsupported(spec.info.path + " = " + value + " (" + spec.info.feature +
                           " is not built yet; accepted: " + join(off) + ")");
}

// A key's own rule, then (when the value is in range) its status.
void check_key(const KeySpec& spec, const Config& config, Problems& problems) {
  size_t before = problems.list.size();
  spec.check_range(config, problems);
  if (problems.list.size() == before) check_status(spec, config, problems);
}

// The params of optimizer or scheduler `section` ("optimizer" or "scheduler") for type `given`.
void check_params(const Config& config, const std::string& section, const std::string& given,
                  const std::vector<std::string>& types, bool is_optimizer, Problems& problems) {
  const std::string prefix = section + ".params.";
  bool known_unbuilt = false;
  std::string type = is_optimizer ? config_schema::canonical_optimizer(given, &known_unbuilt)
                                  : config_schema::canonical_scheduler(given, &known_unbuilt);
  if (!given.empty() && type.empty()) {
    if (known_unbuilt) {
      problems.add_unsupported(section + ".type = " + json_string(given) + " (Strata has " +
                               join(types) + ")");
    } else {
      std::optional<std::string> closest = closest_match(given, types);
      problems.add(section + ".type", "unknown type " + json_string(given) +
                                          (closest ? "; did you mean " + *closest + "?" : "") +
                                          " (Strata has " + join(types) + ")");
    }
    return;
  }
  // Each param path: the row for this type, if any.
  std::map<std::string, const KeySpec*> rows;
  std::vector<std::string> order;
  for (const KeySpec& spec : config_schema::key_specs()) {
    if (spec.info.path.rfind(prefix, 0) != 0) continue;
    if (!rows.count(spec.info.path))
      order.push_back(spec.info.path), rows[spec.info.path] = nullptr;
    if (!type.empty() && applies(spec, type)) rows[spec.info.path] = &spec;
  }
  for (const std::string& path : order) {
    const KeySpec* row = rows[path];
    const KeySpec* any = nullptr;
    for (const KeySpec& spec : config_schema::key_specs()) {
      if (spec.info.path == path) any = &spec;
    }
    bool set = any->is_set(config);
    if (!row) {
      if (set) {
        problems.add(
            path, type.empty() ? "set without " + section + ".type" : "does not apply to " + type);
      }
      continue;
    }
    if (set) {
      check_key(*row, config, problems);
    } else if (row->required) {
      problems.add(path, "required for " + type);
    }
  }
}

// Rules that join keys.
void check_joint(const Config& c, Problems& problems) {
  if (c.fp16.enabled && c.bf16.enabled) {
    problems.add("fp16.enabled", "fp16 and bf16 cannot both be enabled");
  }
  bool unbuilt = false;
  std::string optimizer = config_schema::canonical_optimizer(c.optimizer.type, &unbuilt);
  const OptimizerParams& p = c.optimizer.params;
  if (optimizer == "AdamW" && p.adam_w_mode == false) {
    problems.add("optimizer.params.adam_w_mode",
                 "false contradicts type AdamW; for Adam with L2 weight decay use type Adam");
  }
  if (optimizer == "SGD" && p.nesterov.value_or(false) &&
      (p.momentum.value_or(0) <= 0 || p.dampening.value_or(0) != 0)) {
    problems.add("optimizer.params.nesterov", "needs momentum > 0 and dampening 0");
  }
  if (optimizer == "Lamb" && p.min_coeff && p.max_coeff && *p.min_coeff > *p.max_coeff) {
    problems.add("optimizer.params.min_coeff", "must not exceed max_coeff");
  }
  const SchedulerParams& s = c.scheduler.params;
  if (c.scheduler.type == "OneCycle" && s.cycle_min_lr && s.cycle_max_lr &&
      *s.cycle_min_lr > *s.cycle_max_lr) {
    problems.add("scheduler.params.cycle_min_lr", "must not exceed cycle_max_lr");
  }
  if (c.scheduler.type == "OneCycle" && s.decay_step_size.value_or(0) == 0 &&
      (s.decay_lr_rate.value_or(0) != 0 || s.decay_mom_rate.value_or(0) != 0)) {
    problems.add("scheduler.params.decay_step_size", "must be positive when a decay rate is set");
  }
  // offload_optimizer moves the partitioned optimizer (stages 1-2), and nvme needs a folder.
  const ZeroConfig& zero = c.zero_optimization;
  const std::string& offload = zero.offload_optimizer.device;
  if ((offload != "none" || zero.cpu_offload) && zero.stage == 0) {
    problems.add("zero_optimization.offload_optimizer.device",
                 "offload needs zero_optimization.stage 1 or 2 (it moves the partitioned "
                 "optimizer); stage is 0");
  }
  if (offload == "nvme" && zero.offload_optimizer.nvme_path.value_or("").empty()) {
    problems.add("zero_optimization.offload_optimizer.nvme_path",
                 "required with offload_optimizer.device \"nvme\"");
  }
}

// The batch triad for world_size, or nullopt after adding the problem.
struct Triad {
  int64_t batch, micro, steps;
  std::string inferred;
};

std::optional<Triad> batch_triad(const Config& c, int64_t world_size, Problems& problems) {
  if (world_size < 1) {
    problems.add("world size", "must be at least 1, got " + std::to_string(world_size));
    return std::nullopt;
  }
  auto positive = [](const std::optional<int64_t>& v) { return v && *v > 0 ? v : std::nullopt; };
  std::optional<int64_t> batch = positive(c.train_batch_size),
                         micro = positive(c.train_micro_batch_size_per_gpu),
                         steps = positive(c.gradient_accumulation_steps);
  if ((c.train_batch_size && !batch) || (c.train_micro_batch_size_per_gpu && !micro) ||
      (c.gradient_accumulation_steps && !steps)) {
    return std::nullopt;  // the range rule has reported it
  }
  const std::string ws = "data-parallel size " + std::to_string(world_size);
  auto divide = [&](int64_t total, int64_t divisor, const std::string& total_name,
                    const std::string& divisor_text, const std::string& wanted) {
    if (total % divisor == 0) return std::optional<int64_t>(total / divisor);
    problems.add(total_name, total_name + " " + std::to_string(total) + " is not a multiple of " +
                                 divisor_text + " = " + std::to_string(divisor) + ", so " + wanted +
                                 " cannot be inferred");
    return std::optional<int64_t>();
  };
  if (batch && micro && steps) {
    int64_t product = *micro * *steps * world_size;
    if (product == *batch) return Triad{*batch, *micro, *steps, ""};
    problems.add("train_batch_size",
                 "train_batch_size " + std::to_string(*batch) +
                     " != train_micro_batch_size_per_gpu " + std::to_string(*micro) +
                     " x gradient_accumulation_steps " + std::to_string(*steps) + " x " + ws +
                     " = " + std::to_string(product));
    return std::nullopt;
  }
  if (batch && micro) {
    auto s = divide(*batch, *micro * world_size, "train_batch_size",
                    "train_micro_batch_size_per_gpu " + std::to_string(*micro) + " x " + ws,
                    "gradient_accumulation_steps");
    if (s) return Triad{*batch, *micro, *s, "gradient_accumulation_steps"};
    return std::nullopt;
  }
  if (batch && steps) {
    auto m = divide(*batch, *steps * world_size, "train_batch_size",
                    "gradient_accumulation_steps " + std::to_string(*steps) + " x " + ws,
                    "train_micro_batch_size_per_gpu");
    if (m) return Triad{*batch, *m, *steps, "train_micro_batch_size_per_gpu"};
    return std::nullopt;
  }
  if (micro && steps) {
    return Triad{*micro * *steps * world_size, *micro, *steps, "train_batch_size"};
  }
  if (batch) {
    auto m = divide(*batch, world_size, "train_batch_size", ws, "train_micro_batch_size_per_gpu");
    if (m) {
      return Triad{*batch, *m, 1,
                   "train_micro_batch_size_per_gpu and gradient_accumulation_steps (1)"};
    }
    return std::nullopt;
  }
  if (micro) {
    return Triad{*micro * world_size, *micro, 1,
                 "train_batch_size and gradient_accumulation_steps (1)"};
  }
  problems.add("train_batch_size",
               "give train_batch_size or train_micro_batch_size_per_gpu (any two of those and "
               "gradient_accumulation_steps determine the third)");
  return std::nullopt;
}

Triad resolved_triad(const Config& config, int64_t world_size) {
  Problems problems;
  std::optional<Triad> triad = batch_triad(config, world_size, problems);
  problems.raise_if_any("config");
  return *triad;
}

// JSON output: the keys as a tree in table order.
struct JsonNode {
  std::string name, value;  // value: a leaf's JSON
  std::vector<JsonNode> children;
  JsonNode& child(const std::string& child_name) {
    for (JsonNode& c : children) {
      if (c.name == child_name) return c;
    }
    children.push_back({child_name, "", {}});
    return children.back();
  }
};

void write_json(const JsonNode& node, int depth, std::ostringstream& out) {
  if (node.children.empty() && !node.value.empty()) {
    out << node.value;
    return;
  }
  out << "{\n";
  for (size_t i = 0; i < node.children.size(); ++i) {
    out << std::string(2 * (depth + 1), ' ') << json_string(node.children[i].name) << ": ";
    write_json(node.children[i], depth + 1, out);
    out << (i + 1 < node.children.size() ? ",\n" : "\n");
  }
  out << std::string(2 * depth, ' ') << "}";
}

}  // namespace

namespace config_schema {

void check_config(const Config& config, Problems& problems) {
  for (const KeySpec& spec : key_specs()) {
    if (spec.section || !spec.types.empty()) continue;  // params: check_params
    check_key(spec, config, problems);
  }
  check_params(config, "optimizer", config.optimizer.type, kOptimizerTypes, true, problems);
  check_params(config, "scheduler", config.scheduler.type, kSchedulerTypes, false, problems);
  check_joint(config, problems);
}

}  // namespace config_schema

namespace config_schema {

void check_batch(const Config& config, int64_t world_size, Problems& problems) {
  batch_triad(config, world_size, problems);
}

}  // namespace config_schema

void Config::validate(int64_t world_size) const {
  Problems problems;
  config_schema::check_config(*this, problems);
  batch_triad(*this, world_size, problems);
  problems.raise_if_any("config");
}

Config Config::resolve(int64_t world_size) const {
  validate(world_size);
  Config out = *this;
  Triad triad = resolved_triad(*this, world_size);
  out.train_batch_size = triad.batch;
  out.train_micro_batch_size_per_gpu = triad.micro;
  out.gradient_accumulation_steps = triad.steps;
  bool unbuilt = false;
  out.optimizer.type = config_schema::canonical_optimizer(optimizer.type, &unbuilt);
  out.scheduler.type = config_schema::canonical_scheduler(scheduler.type, &unbuilt);
  for (const KeySpec& spec : config_schema::key_specs()) {
    const std::string& type =
        spec.info.path.rfind("optimizer.", 0) == 0 ? out.optimizer.type : out.scheduler.type;
    if (!spec.types.empty() && applies(spec, type)) spec.fill_default(out);
  }
  if (!out.zero_optimization.overlap_comm) {
    out.zero_optimization.overlap_comm = out.zero_optimization.stage == 3;
  }
  return out;
}

std::string Config::explain_batch(int64_t world_size) const {
  Triad t = resolved_triad(*this, world_size);
  std::string text = "train_batch_size " + std::to_string(t.batch) +
                     " = train_micro_batch_size_per_gpu " + std::to_string(t.micro) +
                     " x gradient_accumulation_steps " + std::to_string(t.steps) +
                     " x data-parallel size " + std::to_string(world_size);
  return t.inferred.empty() ? text + " (all three given)"
                            : text + " (inferred: " + t.inferred + ")";
}

std::string Config::to_json() const {
  JsonNode root;
  bool unbuilt = false;
  std::string optimizer_type = config_schema::canonical_optimizer(optimizer.type, &unbuilt);
  std::string scheduler_type = config_schema::canonical_scheduler(scheduler.type, &unbuilt);
  for (const KeySpec& spec : config_schema::key_specs()) {
    if (spec.section) continue;
    const std::string& path = spec.info.path;
    bool is_optimizer = path.rfind("optimizer.", 0) == 0;
    bool is_scheduler = path.rfind("scheduler.", 0) == 0;
    if ((is_optimizer && optimizer.type.empty()) || (is_scheduler && scheduler.type.empty())) {
      root.child(is_optimizer ? "optimizer" : "scheduler").value = "null";
      continue;
    }
    if (!spec.types.empty() && !applies(spec, is_optimizer ? optimizer_type : scheduler_type)) {
      continue;
    }
    JsonNode* node = &root;
    size_t begin = 0;
    while (true) {
      size_t dot = path.find('.', begin);
      node = &node->child(path.substr(begin, dot - begin));
      if (dot == std::string::npos) break;
      begin = dot + 1;
    }
    node->value = spec.json(*this);
  }
  std::ostringstream out;
  write_json(root, 0, out);
  return out.str() + "\n";
}

}  // namespace strata::io
