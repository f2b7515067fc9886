// The config key table: one row per DeepSpeed key with its type, rule, default and status. When a
// feature lands, its keys' status changes here (unbuilt -> built) and nowhere else.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <type_traits>

#include "core/error.hpp"
#include "io/config_schema.hpp"
#include "io/json_string.hpp"

namespace strata::io::config_schema {

namespace {

// --- values: YAML -> C++ and C++ -> JSON ---------------------------------------------------------

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
struct value_of {
  using type = T;
};
template <class T>
struct value_of<std::optional<T>> {
  using type = T;
};

using Pair = std::array<double, 2>;

template <class T>
std::string type_name() {
  if constexpr (is_optional<T>::value) {
    return type_name<typename T::value_type>();
  } else if constexpr (std::is_same_v<T, bool>) {
    return "boolean";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return "integer";
  } else if constexpr (std::is_same_v<T, double>) {
    return "number";
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "string";
  } else {
    static_assert(std::is_same_v<T, Pair>);
    return "[number, number]";
  }
}

std::string number_json(double value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  auto [end, error] = std::to_chars(text, text + sizeof text, value);
  std::string json(text, end);
  // to_chars writes 3e-04; JSON and people read 3e-4.
  if (size_t e = json.find('e'); e != std::string::npos) {
    size_t digits = e + 2;
    while (digits + 1 < json.size() && json[digits] == '0') json.erase(digits, 1);
    if (json[e + 1] == '+') json.erase(e + 1, 1);
  }
  return json;
}

template <class T>
std::string to_json(const T& value) {
  if constexpr (is_optional<T>::value) {
    return value ? to_json(*value) : "null";
  } else if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return std::to_string(value);
  } else if constexpr (std::is_same_v<T, double>) {
    return number_json(value);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return json_string(value);
  } else {
    return "[" + number_json(value[0]) + ", " + number_json(value[1]) + "]";
  }
}

// How a YAML node was written, for "got ..." in messages.
std::string describe(const YAML::Node& node) {
  if (node.IsNull()) return "null";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "an object";
  bool quoted = node.Tag() == "!";
  return quoted ? "the string " + json_string(node.Scalar()) : node.Scalar();
}

bool is_plain_scalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "!"; }

// Reads node into value; on a mismatch adds "expected <type>, got <node>" and leaves value as it
// is.
template <class T>
void read_value(const YAML::Node& node, T& value, const std::string& path, Problems& problems) {
  auto mismatch = [&] {
    problems.add(path, "expected " + type_name<T>() + ", got " + describe(node));
  };
  if constexpr (is_optional<T>::value) {
    if (node.IsNull()) {
      value.reset();
    } else {
      typename T::value_type inner{};
      size_t before = problems.list.size();
      read_value(node, inner, path, problems);
      if (problems.list.size() == before) value = inner;
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    bool parsed;
    if (!is_plain_scalar(node) || !YAML::convert<bool>::decode(node, parsed)) return mismatch();
    value = parsed;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    // JSON writes large counts as 5e8, and DeepSpeed takes them: an integral number is an integer.
    int64_t parsed;
    double real;
    if (!is_plain_scalar(node)) return mismatch();
    if (YAML::convert<int64_t>::decode(node, parsed)) {
      value = parsed;
    } else if (YAML::convert<double>::decode(node, real) && std::isfinite(real) &&
               real == std::floor(real) && std::fabs(real) < 9.2e18) {
      value = static_cast<int64_t>(real);
    } else {
      mismatch();
    }
  } else if constexpr (std::is_same_v<T, double>) {
    double parsed;
    if (!is_plain_scalar(node) || !YAML::convert<double>::decode(node, parsed)) return mismatch();
    value = parsed;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!node.IsScalar()) return mismatch();
    value = node.Scalar();
  } else {
    Pair parsed;
    if (!node.IsSequence() || node.size() != 2) return mismatch();
    for (size_t i = 0; i < 2; ++i) {
      if (!is_plain_scalar(node[i]) || !YAML::convert<double>::decode(node[i], parsed[i])) {
        return mismatch();
      }
    }
    value = parsed;
  }
}

bool is_auto(const YAML::Node& node) { return node.IsScalar() && node.Scalar() == "auto"; }

// --- rules: each returns what is wrong with a value, or "" --------------------------------------

struct Any {
  template <class V>
  std::string operator()(const V&) const {
    return "";
  }
};

template <class N>
struct AtLeast {
  N bound;
  template <class V>
  std::string operator()(const V& v) const {
    return v >= bound ? "" : "must be at least " + to_json(static_cast<V>(bound));
  }
};

template <class N>
struct Positive {
  template <class V>
  std::string operator()(const V& v) const {
    return v > 0 ? "" : "must be positive";
  }
};

template <class N>
struct Between {
  N low, high;
  template <class V>
  std::string operator()(const V& v) const {
    return v >= low && v <= high ? ""
                                 : "must be between " + to_json(static_cast<V>(low)) + " and " +
                                       to_json(static_cast<V>(high));
  }
};

struct OneOf {
  std::vector<std::string> choices;
  std::string operator()(const std::string& v) const {
    if (std::find(choices.begin(), choices.end(), v) != choices.end()) return "";
    std::string list;
    for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + json_string(c);
    return "must be one of " + list;
  }
};

struct Betas {
  std::string operator()(const Pair& v) const {
    return v[0] >= 0 && v[0] < 1 && v[1] >= 0 && v[1] < 1 ? "" : "each beta must be in [0, 1)";
  }
};

const AtLeast<int64_t> kNonNegativeInt{0};
const AtLeast<double> kNonNegative{0.0};
const Positive<int64_t> kPositiveInt{};
const Positive<double> kPositive{};

// --- statuses ----------------------------------------------------------------------------------

struct Status {
  KeyStatus kind;
  std::string feature;
  std::vector<std::string> off;
};

Status built() { return {KeyStatus::built, "", {}}; }
Status unbuilt(std::string feature, std::vector<std::string> off) {
  return {KeyStatus::unbuilt, std::move(feature), std::move(off)};
}
Status setting(std::string feature) { return {KeyStatus::setting, std::move(feature), {}}; }
Status inert(std::string why) { return {KeyStatus::inert, std::move(why), {}}; }

// --- rows ----------------------------------------------------------------------------------------

// A field and its key path, spelled once: the key path is the member path.
#define STRATA_CONFIG_FIELD(member) \
#member, [](auto& c) -> auto& { return c.member; }

template <class Get>
using field_t = std::remove_reference_t<decltype(std::declval<Get>()(std::declval<Config&>()))>;

template <class Get, class Rule>
KeySpec key(const char* path, Get get, Rule rule, Status status, std::string note) {
  using T = field_t<Get>;
  Config defaults;
  KeySpec spec;
  spec.info = {path,        type_name<T>(), to_json(get(defaults)), "",
               status.kind, status.feature, std::move(status.off),  std::move(note)};
  spec.read = [get](Config& c, const YAML::Node& node, const std::string& p, Problems& problems) {
    read_value(node, get(c), p, problems);
  };
  spec.json = [get](const Config& c) { return to_json(get(c)); };
  spec.check_range = [get, rule, p = std::string(path)](const Config& c, Problems& problems) {
    const T& value = get(c);
    if constexpr (is_optional<T>::value) {
      if (!value) return;
      if (std::string what = rule(*value); !what.empty()) problems.add(p, what);
    } else {
      if (std::string what = rule(value); !what.empty()) problems.add(p, what);
    }
  };
  return spec;
}

// The batch triad and pipeline.stages: an optional integer that a file may also give as "auto".
template <class Get, class Rule>
KeySpec auto_key(const char* path, Get get, Rule rule, Status status, std::string note) {
  KeySpec spec = key(path, get, rule, std::move(status), std::move(note));
  spec.info.type = "integer or \"auto\"";
  spec.info.default_value = "\"auto\"";
  spec.allows_auto = true;
  return spec;
}

// An optimizer or scheduler param: applies to `types`, filled with `fallback` when unset (when
// `fallback` is empty the param is required, or its default is described by `default_words`).
template <class Get, class Rule>
KeySpec param(const char* path, Get get, std::vector<std::string> types,
              std::optional<typename field_t<Get>::value_type> fallback, Rule rule, Status status,
              std::string note, std::string default_words = "required") {
  KeySpec spec = key(path, get, rule, std::move(status), std::move(note));
  for (const std::string& t : types) {
    spec.info.applies_to += (spec.info.applies_to.empty() ? "" : ", ") + t;
  }
  spec.types = std::move(types);
  spec.info.default_value = fallback ? to_json(*fallback) : default_words;
  spec.required = !fallback && default_words == "required";
  spec.is_set = [get](const Config& c) { return get(c).has_value(); };
  spec.fill_default = [get, fallback](Config& c) {
    if (!get(c) && fallback) get(c) = fallback;
  };
  return spec;
}

// A DeepSpeed section Strata does not model at all: accepted only as {"enabled": false, ...}.
KeySpec section(const char* path, std::string feature) {
  KeySpec spec;
  spec.info = {path,
               "object",
               "absent",
               "",
               KeyStatus::unbuilt,
               std::move(feature),
               {"{\"enabled\": false}"},
               "its other keys are not read"};
  spec.section = true;
  return spec;
}

const std::vector<std::string> kAdamFamily = {"Adam", "AdamW"};
const std::vector<std::string> kWithBetas = {"Adam", "AdamW", "Lamb"};
const std::vector<std::string> kWarmups = {"WarmupLR", "WarmupDecayLR", "WarmupCosineLR"};
const std::vector<std::string> kAllSchedules = {"WarmupLR", "WarmupDecayLR", "WarmupCosineLR",
                                                "OneCycle", "LRRangeTest"};

const char* const kZero = "ZeRO (stages 1-3)";
const char* const kOffload = "ZeRO-Offload";
const char* const kNvme = "NVMe offload";
const char* const kPinned = "pinned host memory for offload";
const char* const kPipeline = "pipeline parallelism";

std::vector<KeySpec> make_specs() {
  const OneOf warmup_types{{"log", "linear"}};
  const OneOf devices{{"none", "cpu", "nvme"}};
  const OneOf dtypes{{"fp32", "fp16", "bf16"}};
  return {
      // Batch size
      auto_key(STRATA_CONFIG_FIELD(train_batch_size), kPositiveInt, built(),
               "micro batch x accumulation steps x data-parallel size"),
      auto_key(STRATA_CONFIG_FIELD(train_micro_batch_size_per_gpu), kPositiveInt, built(),
               "samples per rank per forward/backward"),
      auto_key(STRATA_CONFIG_FIELD(gradient_accumulation_steps), kPositiveInt, built(),
               "micro batches per optimizer step; 1 when only one of the other two is given"),
      // Optimizer and scheduler
      key(STRATA_CONFIG_FIELD(optimizer.type), Any{}, built(),
          "Adam, AdamW, Lamb, SGD, Adagrad; empty: the caller brings the optimizer"),
      param(STRATA_CONFIG_FIELD(optimizer.params.lr), kWithBetas, 1e-3, kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.lr), {"Adagrad"}, 1e-2, kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.lr), {"SGD"}, std::nullopt, kNonNegative, built(),
            "torch.optim.SGD has no default lr"),
      param(STRATA_CONFIG_FIELD(optimizer.params.betas), kWithBetas, Pair{0.9, 0.999}, Betas{},
            built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.eps), kWithBetas, 1e-8, kPositive, built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.eps), {"Adagrad"}, 1e-10, kPositive, built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.weight_decay),
            {"Adam", "AdamW", "Lamb", "SGD", "Adagrad"}, 0.0, kNonNegative, built(),
            "DeepSpeed's FusedAdam defaults to 0 for AdamW too"),
      param(STRATA_CONFIG_FIELD(optimizer.params.bias_correction), kAdamFamily, true, Any{},
            unbuilt("Adam without bias correction", {"true"}), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.bias_correction), {"Lamb"}, true, Any{}, built(),
            ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.amsgrad), kAdamFamily, false, Any{}, built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.amsgrad), {"Lamb"}, false, Any{},
            unbuilt("LAMB with AMSGrad", {"false"}), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.adam_w_mode), kAdamFamily, true, Any{}, built(),
            "as DeepSpeed: type Adam decays weights decoupled (AdamW) unless this is false"),
      param(STRATA_CONFIG_FIELD(optimizer.params.torch_adam), kAdamFamily, false, Any{},
            inert("Strata has one Adam implementation per device"), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.momentum), {"SGD"}, 0.0, kNonNegative, built(),
            ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.dampening), {"SGD"}, 0.0, Any{}, built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.nesterov), {"SGD"}, false, Any{}, built(),
            "needs momentum > 0 and dampening 0"),
      param(STRATA_CONFIG_FIELD(optimizer.params.lr_decay), {"Adagrad"}, 0.0, kNonNegative, built(),
            ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.initial_accumulator_value), {"Adagrad"}, 0.0,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.max_coeff), {"Lamb"}, 10.0, kPositive, built(),
            "trust ratio upper clamp"),
      param(STRATA_CONFIG_FIELD(optimizer.params.min_coeff), {"Lamb"}, 0.01, kNonNegative, built(),
            "trust ratio lower clamp"),
      param(STRATA_CONFIG_FIELD(optimizer.params.max_grad_norm), {"Lamb"}, 0.0, kNonNegative,
            unbuilt("clipping inside LAMB (use gradient_clipping)", {"0"}), ""),
      param(STRATA_CONFIG_FIELD(optimizer.params.eps_inside_sqrt), {"Lamb"}, false, Any{},
            unbuilt("LAMB with eps inside the square root", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(optimizer.legacy_fusion), Any{}, inert("a DeepSpeed fp16 internal"),
          ""),
      key(STRATA_CONFIG_FIELD(scheduler.type), Any{}, built(),
          "WarmupLR, WarmupDecayLR, WarmupCosineLR, OneCycle, LRRangeTest; empty: none"),
      param(STRATA_CONFIG_FIELD(scheduler.params.warmup_min_lr), {"WarmupLR", "WarmupDecayLR"}, 0.0,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.warmup_max_lr), {"WarmupLR"}, std::nullopt,
            kNonNegative, built(), "", "optimizer's lr"),
      param(STRATA_CONFIG_FIELD(scheduler.params.warmup_max_lr), {"WarmupDecayLR"}, 1e-3,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.warmup_num_steps), kWarmups, 1000, kPositiveInt,
            built(), "counts at least 2"),
      param(STRATA_CONFIG_FIELD(scheduler.params.warmup_type), kWarmups, std::string("log"),
            warmup_types, built(), "log or linear"),
      param(STRATA_CONFIG_FIELD(scheduler.params.total_num_steps),
            {"WarmupDecayLR", "WarmupCosineLR"}, std::nullopt, kPositiveInt, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.warmup_min_ratio), {"WarmupCosineLR"}, 0.0,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cos_min_ratio), {"WarmupCosineLR"}, 1e-4,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.lr_range_test_min_lr), {"LRRangeTest"}, 1e-3,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.lr_range_test_step_size), {"LRRangeTest"}, 2000,
            kPositiveInt, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.lr_range_test_step_rate), {"LRRangeTest"}, 1.0,
            Any{}, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.lr_range_test_staircase), {"LRRangeTest"}, false,
            Any{}, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_min_lr), {"OneCycle"}, std::nullopt,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_max_lr), {"OneCycle"}, std::nullopt,
            kNonNegative, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.decay_lr_rate), {"OneCycle"}, 0.0, kNonNegative,
            built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_first_step_size), {"OneCycle"}, 2000,
            kPositiveInt, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_second_step_size), {"OneCycle"},
            std::nullopt, kPositiveInt, built(), "", "cycle_first_step_size"),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_first_stair_count), {"OneCycle"}, 0,
            kNonNegativeInt, built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_second_stair_count), {"OneCycle"},
            std::nullopt, kNonNegativeInt, built(), "", "cycle_first_stair_count"),
      param(STRATA_CONFIG_FIELD(scheduler.params.decay_step_size), {"OneCycle"}, 0, kNonNegativeInt,
            built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_momentum), {"OneCycle"}, true, Any{},
            built(), "cycles betas[0] of Adam, AdamW and Lamb"),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_min_mom), {"OneCycle"}, 0.8, kNonNegative,
            built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.cycle_max_mom), {"OneCycle"}, 0.9, kNonNegative,
            built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.decay_mom_rate), {"OneCycle"}, 0.0, kNonNegative,
            built(), ""),
      param(STRATA_CONFIG_FIELD(scheduler.params.last_batch_iteration), kAllSchedules, -1,
            AtLeast<int64_t>{-1}, built(), "-1: start from the beginning"),
      // Training
      key(STRATA_CONFIG_FIELD(steps_per_print), kPositiveInt, built(), "log every this many steps"),
      key(STRATA_CONFIG_FIELD(wall_clock_breakdown), Any{}, built(),
          "forward, backward, reduction and step times"),
      key(STRATA_CONFIG_FIELD(memory_breakdown), Any{}, unbuilt("memory breakdown", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(dump_state), Any{}, unbuilt("state dumps", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(gradient_clipping), kNonNegative, built(),
          "max global gradient norm after unscaling; 0: off"),
      key(STRATA_CONFIG_FIELD(prescale_gradients), Any{}, built(),
          "divide gradients before the data-parallel reduction instead of after"),
      key(STRATA_CONFIG_FIELD(gradient_predivide_factor), kPositive, built(),
          "with prescale_gradients: divide by this before and by world size / this after"),
      key(STRATA_CONFIG_FIELD(communication_data_type), dtypes,
          unbuilt("reducing gradients in another dtype", {"null"}),
          "gradients are reduced in their own dtype"),
      key(STRATA_CONFIG_FIELD(fp32_allreduce), Any{},
          unbuilt("reducing gradients in fp32", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(sparse_gradients), Any{}, unbuilt("sparse gradients", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(disable_allgather), Any{}, unbuilt("disable_allgather", {"false"}),
          ""),
      key(STRATA_CONFIG_FIELD(seed), Any{}, built(),
          "Strata's key: seeds initialisation, dropout and data order"),
      key(STRATA_CONFIG_FIELD(dataloader_drop_last), Any{}, built(),
          "drop_last of the loader initialize builds"),
      key(STRATA_CONFIG_FIELD(vocabulary_size), Any{},
          inert("DeepSpeed only warns when it is not a multiple of 8"), ""),
      // Mixed precision
      key(STRATA_CONFIG_FIELD(fp16.enabled), Any{}, built(), "f16 weights, f32 master weights"),
      key(STRATA_CONFIG_FIELD(fp16.auto_cast), Any{}, unbuilt("casting inputs to fp16", {"false"}),
          ""),
      key(STRATA_CONFIG_FIELD(fp16.loss_scale), kNonNegative, built(),
          "0: dynamic loss scaling; > 0: this static scale"),
      key(STRATA_CONFIG_FIELD(fp16.initial_scale_power), Between<int64_t>{0, 127}, built(),
          "dynamic scaling starts at 2^this"),
      key(STRATA_CONFIG_FIELD(fp16.loss_scale_window), kPositiveInt, built(),
          "clean steps before the scale doubles"),
      key(STRATA_CONFIG_FIELD(fp16.hysteresis), kPositiveInt, built(),
          "overflows tolerated before the scale halves"),
      key(STRATA_CONFIG_FIELD(fp16.consecutive_hysteresis), Any{}, built(),
          "refill the hysteresis after a clean step"),
      key(STRATA_CONFIG_FIELD(fp16.min_loss_scale), kNonNegative, built(),
          "the scale's floor; 0: none"),
      key(STRATA_CONFIG_FIELD(fp16.fp16_master_weights_and_grads), Any{},
          unbuilt("fp16 master weights", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(bf16.enabled), Any{}, built(),
          "bf16 weights, f32 master weights, no loss scaling"),
      key(STRATA_CONFIG_FIELD(bf16.immediate_grad_update), Any{},
          unbuilt("immediate bf16 gradient updates", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(bf16.check_grad_overflow), Any{},
          unbuilt("bf16 overflow checks", {"false"}), ""),
      // ZeRO
      key(STRATA_CONFIG_FIELD(zero_optimization.stage), Between<int64_t>{0, 3}, built(),
          "0: plain data parallelism; 1: optimizer states partitioned; 2: and gradients; 3: and "
          "parameters"),
      key(STRATA_CONFIG_FIELD(zero_optimization.contiguous_gradients), Any{},
          inert("stage 2 always copies gradients into contiguous unit buckets"), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.reduce_scatter), Any{},
          inert("stages 1-2 always reduce-scatter"), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.reduce_bucket_size), kNonNegativeInt, built(),
          "elements per gradient bucket (ZeRO unit)"),
      key(STRATA_CONFIG_FIELD(zero_optimization.use_multi_rank_bucket_allreduce), Any{},
          setting(kZero), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.allgather_partitions), Any{}, setting(kZero), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.allgather_bucket_size), kNonNegativeInt, built(),
          "elements of parameters all-gathered at once after a stage 1-2 step"),
      key(STRATA_CONFIG_FIELD(zero_optimization.overlap_comm), Any{}, built(),
          "reduce gradient buckets during backward; unset: true at stage 3, false below"),
      key(STRATA_CONFIG_FIELD(zero_optimization.load_from_fp32_weights), Any{}, setting(kZero), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.elastic_checkpoint), Any{},
          unbuilt("elastic checkpoints", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_param.device), devices,
          unbuilt(kOffload, {"\"none\""}), "stage 3 only"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_param.nvme_path), Any{}, setting(kNvme),
          ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_param.buffer_count), kNonNegativeInt,
          setting(kNvme), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_param.buffer_size), kNonNegativeInt,
          setting(kNvme), "elements"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_param.max_in_cpu), kNonNegativeInt,
          setting(kNvme), "elements"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_param.pin_memory), Any{}, setting(kOffload),
          ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.device), devices, built(),
          "f32 masters and optimizer states in CPU memory (cpu) or in files (nvme); stages 1-3"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.nvme_path), Any{}, built(),
          "a folder; required with device nvme"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.buffer_count), kNonNegativeInt,
          built(), "chunk buffers of the nvme step: a chunk takes 1 + the optimizer's states"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.pin_memory), Any{},
          setting(kPinned), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.pipeline_read), Any{}, built(),
          "nvme: read the next chunk while one is updated"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.pipeline_write), Any{}, built(),
          "nvme: write updated chunks while the next are updated"),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.fast_init), Any{},
          inert("the files are written once, at start-up"), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.offload_optimizer.ratio), Between<double>{0, 1},
          setting(kOffload), "stage 3 only below 1"),
      key(STRATA_CONFIG_FIELD(zero_optimization.sub_group_size), kPositiveInt, built(),
          "elements per chunk of the nvme offload step (rounded up to 1024)"),
      key(STRATA_CONFIG_FIELD(zero_optimization.cpu_offload), Any{}, built(),
          "legacy: offload_optimizer.device cpu"),
      key(STRATA_CONFIG_FIELD(zero_optimization.cpu_offload_param), Any{},
          unbuilt(kOffload, {"false"}), "legacy: offload_param.device cpu"),
      key(STRATA_CONFIG_FIELD(zero_optimization.cpu_offload_use_pin_memory), Any{},
          setting(kPinned), "legacy"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_prefetch_bucket_size), kNonNegativeInt,
          built(), "elements gathered ahead of the modules that use them"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_param_persistence_threshold),
          kNonNegativeInt, built(), "elements: smaller parameters stay gathered"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_model_persistence_threshold),
          kNonNegativeInt, setting(kZero), "elements"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_max_live_parameters), kNonNegativeInt,
          built(), "elements gathered at once, at most"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_max_reuse_distance), kNonNegativeInt,
          built(), "elements: a parameter used again within this stays gathered"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_gather_16bit_weights_on_model_save), Any{},
          built(),
          "stage 3: checkpoints gather the whole 16-bit weights into the model group; "
          "otherwise the weights are saved as the shards' f32 masters only"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_gather_fp16_weights_on_model_save), Any{},
          built(), "legacy name of the above"),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_module_granularity_threshold),
          kNonNegativeInt, setting(kZero), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.stage3_use_all_reduce_for_fetch_params), Any{},
          setting(kZero), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.ignore_unused_parameters), Any{}, setting(kZero),
          ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.legacy_stage1), Any{},
          unbuilt("DeepSpeed's legacy stage 1", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.round_robin_gradients), Any{}, setting(kOffload),
          ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.zero_hpz_partition_size), kPositiveInt,
          unbuilt("ZeRO++ hierarchical partitioning", {"1"}), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.zero_quantized_weights), Any{},
          unbuilt("ZeRO++ quantized weights", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.zero_quantized_nontrainable_weights), Any{},
          unbuilt("ZeRO++ quantized weights", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.zero_quantized_gradients), Any{},
          unbuilt("ZeRO++ quantized gradients", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.mics_shard_size), Any{}, unbuilt("MiCS", {"-1"}),
          ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.mics_hierarchical_params_gather), Any{},
          setting("MiCS"), ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.memory_efficient_linear), Any{}, setting(kZero),
          ""),
      key(STRATA_CONFIG_FIELD(zero_optimization.override_module_apply), Any{}, setting(kZero), ""),
      key(STRATA_CONFIG_FIELD(zero_allow_untested_optimizer), Any{},
          inert("every Strata optimizer works with every stage"), ""),
      key(STRATA_CONFIG_FIELD(zero_force_ds_cpu_optimizer), Any{},
          inert("Strata's optimizers run on every device"), ""),
      // Activation checkpointing (autograd/checkpoint.hpp is built; these are DeepSpeed's extras)
      key(STRATA_CONFIG_FIELD(activation_checkpointing.partition_activations), Any{},
          unbuilt("partitioned activations", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(activation_checkpointing.number_checkpoints), kPositiveInt,
          setting("partitioned activations"), ""),
      key(STRATA_CONFIG_FIELD(activation_checkpointing.contiguous_memory_optimization), Any{},
          unbuilt("contiguous checkpoint memory", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(activation_checkpointing.synchronize_checkpoint_boundary), Any{},
          unbuilt("checkpoint boundary synchronisation", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(activation_checkpointing.profile), Any{},
          unbuilt("checkpoint profiling", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(activation_checkpointing.cpu_checkpointing), Any{},
          unbuilt("CPU checkpointing", {"false"}), ""),
      // Profiling
      key(STRATA_CONFIG_FIELD(flops_profiler.enabled), Any{},
          unbuilt("the flops profiler", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(flops_profiler.profile_step), kPositiveInt,
          setting("the flops profiler"), ""),
      key(STRATA_CONFIG_FIELD(flops_profiler.module_depth), AtLeast<int64_t>{-1},
          setting("the flops profiler"), "-1: every depth"),
      key(STRATA_CONFIG_FIELD(flops_profiler.top_modules), kPositiveInt,
          setting("the flops profiler"), ""),
      key(STRATA_CONFIG_FIELD(flops_profiler.detailed), Any{}, setting("the flops profiler"), ""),
      key(STRATA_CONFIG_FIELD(flops_profiler.output_file), Any{}, setting("the flops profiler"),
          "null: stdout"),
      // Pipeline
      auto_key(STRATA_CONFIG_FIELD(pipeline.stages), kPositiveInt,
               unbuilt(kPipeline, {"null", "1"}), "\"auto\": from the model"),
      key(STRATA_CONFIG_FIELD(pipeline.partition), Any{}, setting(kPipeline), ""),
      key(STRATA_CONFIG_FIELD(pipeline.seed_layers), Any{}, setting(kPipeline), ""),
      key(STRATA_CONFIG_FIELD(pipeline.activation_checkpoint_interval), kNonNegativeInt,
          setting(kPipeline), ""),
      key(STRATA_CONFIG_FIELD(pipeline.pipe_partitioned), Any{}, setting(kPipeline), ""),
      key(STRATA_CONFIG_FIELD(pipeline.grad_partitioned), Any{}, setting(kPipeline), ""),
      // Asynchronous I/O
      key(STRATA_CONFIG_FIELD(aio.block_size), kPositiveInt, built(), "bytes"),
      key(STRATA_CONFIG_FIELD(aio.queue_depth), kPositiveInt, built(), ""),
      key(STRATA_CONFIG_FIELD(aio.thread_count), kPositiveInt, built(), ""),
      key(STRATA_CONFIG_FIELD(aio.single_submit), Any{}, built(), ""),
      key(STRATA_CONFIG_FIELD(aio.overlap_events), Any{}, built(), ""),
      key(STRATA_CONFIG_FIELD(aio.use_gds), Any{}, unbuilt("GPUDirect Storage", {"false"}), ""),
      // Monitoring (Strata writes a JSONL metrics file per run instead)
      key(STRATA_CONFIG_FIELD(tensorboard.enabled), Any{}, unbuilt("TensorBoard", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(tensorboard.output_path), Any{}, setting("TensorBoard"), ""),
      key(STRATA_CONFIG_FIELD(tensorboard.job_name), Any{}, setting("TensorBoard"), ""),
      key(STRATA_CONFIG_FIELD(wandb.enabled), Any{}, unbuilt("Weights & Biases", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(wandb.group), Any{}, setting("Weights & Biases"), ""),
      key(STRATA_CONFIG_FIELD(wandb.team), Any{}, setting("Weights & Biases"), ""),
      key(STRATA_CONFIG_FIELD(wandb.project), Any{}, setting("Weights & Biases"), ""),
      key(STRATA_CONFIG_FIELD(csv_monitor.enabled), Any{}, unbuilt("the CSV monitor", {"false"}),
          ""),
      key(STRATA_CONFIG_FIELD(csv_monitor.output_path), Any{}, setting("the CSV monitor"), ""),
      key(STRATA_CONFIG_FIELD(csv_monitor.job_name), Any{}, setting("the CSV monitor"), ""),
      key(STRATA_CONFIG_FIELD(comms_logger.enabled), Any{},
          unbuilt("the communication logger", {"false"}), ""),
      key(STRATA_CONFIG_FIELD(comms_logger.verbose), Any{}, setting("the communication logger"),
          ""),
      key(STRATA_CONFIG_FIELD(comms_logger.prof_all), Any{}, setting("the communication logger"),
          ""),
      key(STRATA_CONFIG_FIELD(comms_logger.debug), Any{}, setting("the communication logger"), ""),
      key(STRATA_CONFIG_FIELD(data_types.grad_accum_dtype), dtypes,
          unbuilt("accumulating gradients in another dtype", {"null"}),
          "gradients accumulate in the parameters' dtype"),
      // DeepSpeed features with no model here yet
      section("sparse_attention", "sparse attention"),
      section("elasticity", "elastic training"),
      section("compression_training", "compression"),
      section("data_efficiency", "data efficiency"),
      section("curriculum_learning", "curriculum learning"),
      section("progressive_layer_drop", "progressive layer drop"),
      section("autotuning", "autotuning"),
      section("hybrid_engine", "the hybrid engine"),
      section("nebula", "Nebula checkpoints"),
      section("comet", "Comet monitoring"),
      section("amp", "Apex AMP (use fp16 or bf16)"),
      section("torch_autocast", "torch autocast (use fp16 or bf16)"),
      section("compile", "torch.compile"),
  };
}

#undef STRATA_CONFIG_FIELD

}  // namespace

const std::vector<KeySpec>& key_specs() {
  static const std::vector<KeySpec> specs = make_specs();
  return specs;
}

// Optimizer and scheduler types: Strata's, and DeepSpeed's (or torch's, which DeepSpeed also takes
// by name) that Strata does not have yet.
const std::vector<std::string> kOptimizerTypes = {"Adam", "AdamW", "Lamb", "SGD", "Adagrad"};
const std::vector<std::string> kSchedulerTypes = kAllSchedules;

namespace {

const std::vector<std::string> kUnbuiltOptimizers = {
    "OneBitAdam", "ZeroOneAdam", "OneBitLamb", "Lion",       "MuAdam", "MuAdamW",
    "MuSGD",      "Muon",        "RMSprop",    "Adadelta",   "Adamax", "ASGD",
    "NAdam",      "RAdam",       "Rprop",      "SparseAdam", "LBFGS",  "Adafactor"};
const std::vector<std::string> kUnbuiltSchedulers = {"StepLR",
                                                     "MultiStepLR",
                                                     "ExponentialLR",
                                                     "CosineAnnealingLR",
                                                     "ReduceLROnPlateau",
                                                     "CyclicLR",
                                                     "OneCycleLR",
                                                     "LambdaLR",
                                                     "LinearLR",
                                                     "ConstantLR",
                                                     "PolynomialLR",
                                                     "CosineAnnealingWarmRestarts"};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// DeepSpeed matches optimizer names case-insensitively, scheduler names exactly.
std::string canonical(const std::string& name, const std::vector<std::string>& built,
                      const std::vector<std::string>& unbuilt, bool ignore_case,
                      bool* known_unbuilt) {
  auto same = [&](const std::string& a) {
    return ignore_case ? lower(a) == lower(name) : a == name;
  };
  *known_unbuilt = std::any_of(unbuilt.begin(), unbuilt.end(), same);
  auto found = std::find_if(built.begin(), built.end(), same);
  return found == built.end() ? "" : *found;
}

}  // namespace

std::string canonical_optimizer(const std::string& name, bool* known_unbuilt) {
  return canonical(name, kOptimizerTypes, kUnbuiltOptimizers, true, known_unbuilt);
}

std::string canonical_scheduler(const std::string& name, bool* known_unbuilt) {
  return canonical(name, kSchedulerTypes, kUnbuiltSchedulers, false, known_unbuilt);
}

std::string parent_of(const std::string& path) {
  size_t dot = path.rfind('.');
  return dot == std::string::npos ? "" : path.substr(0, dot);
}

std::string leaf_of(const std::string& path) {
  size_t dot = path.rfind('.');
  return dot == std::string::npos ? path : path.substr(dot + 1);
}

void Problems::raise_if_any(const std::string& context) const {
  if (list.empty()) return;
  std::string message =
      context + ": " + std::to_string(list.size()) + (list.size() == 1 ? " problem" : " problems");
  for (const std::string& problem : list) message += "\n  " + problem;
  throw Error(message);
}

}  // namespace strata::io::config_schema

namespace strata::io {

std::vector<ConfigKey> config_keys() {
  std::vector<ConfigKey> keys;
  for (const config_schema::KeySpec& spec : config_schema::key_specs()) keys.push_back(spec.info);
  return keys;
}

}  // namespace strata::io
