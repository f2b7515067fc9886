// The training configuration: DeepSpeed's config file (ds_config.json) as typed structs, with
// DeepSpeed's key names, defaults and rules, read from JSON or YAML or built in C++.
//
// Words used here:
// - key path: a key and the keys above it, joined by dots
// ("zero_optimization.offload_param.device").
// - status of a key (io/config_keys.hpp holds them all in one table): built (Strata does what it
//   says), unbuilt (it switches on a feature Strata does not have yet: accepted only at its off
//   value, otherwise an error "not supported yet: <key path> ..."), or a setting of an unbuilt
//   feature (checked, and without effect until the feature lands; load_config notes each one a
//   file sets).
// - batch triad: train_batch_size = train_micro_batch_size_per_gpu x gradient_accumulation_steps x
//   data-parallel size. Any two of the three determine the third; resolve() infers it.
//
//   io::Config config = io::load_config("ds_config.json");   // unknown keys, types, ranges
//   config = config.resolve(world_size);                       // + the batch triad, every default
//
//   io::Config config{.train_micro_batch_size_per_gpu = 8,     // the same without a file
//                     .optimizer = {.type = "AdamW", .params = {.lr = 3e-4}}};
//   config.validate(world_size);                               // throws strata::Error
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace strata::io {

// optimizer.params: the union of the optimizers' parameters. Which apply, and their defaults,
// depend on optimizer.type (io/config_keys.cpp); resolve() fills those that apply, and setting one
// that does not apply is an error.
struct OptimizerParams {
  std::optional<double> lr;  // Adam, AdamW, Lamb: 1e-3; Adagrad 1e-2; SGD: required
  std::optional<std::array<double, 2>> betas;  // Adam, AdamW, Lamb: [0.9, 0.999]
  std::optional<double> eps;                   // Adam, AdamW, Lamb: 1e-8; Adagrad: 1e-10
  std::optional<double> weight_decay;          // 0 for all (DeepSpeed's FusedAdam: AdamW too)
  std::optional<bool> bias_correction;         // Adam, AdamW, Lamb: true
  std::optional<bool> amsgrad;                 // Adam, AdamW, Lamb: false
  std::optional<bool> adam_w_mode;  // Adam: true (DeepSpeed: decoupled decay); AdamW: true
  std::optional<bool> torch_adam;   // Adam, AdamW: false (one implementation here)
  std::optional<double> momentum;   // SGD: 0
  std::optional<double> dampening;  // SGD: 0
  std::optional<bool> nesterov;     // SGD: false
  std::optional<double> lr_decay;   // Adagrad: 0
  std::optional<double> initial_accumulator_value;  // Adagrad: 0
  std::optional<double> max_coeff;                  // Lamb: 10
  std::optional<double> min_coeff;                  // Lamb: 0.01
  std::optional<double> max_grad_norm;              // Lamb: 0 (use gradient_clipping)
  std::optional<bool> eps_inside_sqrt;              // Lamb: false
};

struct OptimizerConfig {
  // Adam, AdamW, Lamb, SGD, Adagrad (DeepSpeed's names, any case; resolve() writes them as here);
  // empty when the caller brings its own optimizer.
  std::string type;
  OptimizerParams params;
  bool legacy_fusion = false;
};

// scheduler.params: the union of the schedules' parameters (optim/lr_schedules.hpp); which apply
// depends on scheduler.type, as for the optimizer.
struct SchedulerParams {
  std::optional<double> warmup_min_lr;         // WarmupLR, WarmupDecayLR: 0
  std::optional<double> warmup_max_lr;         // WarmupLR: the optimizer's lr; WarmupDecayLR: 1e-3
  std::optional<int64_t> warmup_num_steps;     // WarmupLR, WarmupDecayLR, WarmupCosineLR: 1000
  std::optional<std::string> warmup_type;      // "log" or "linear"; default log
  std::optional<int64_t> total_num_steps;      // WarmupDecayLR, WarmupCosineLR: required
  std::optional<double> warmup_min_ratio;      // WarmupCosineLR: 0
  std::optional<double> cos_min_ratio;         // WarmupCosineLR: 1e-4
  std::optional<double> lr_range_test_min_lr;  // LRRangeTest: 1e-3
  std::optional<int64_t> lr_range_test_step_size;   // LRRangeTest: 2000
  std::optional<double> lr_range_test_step_rate;    // LRRangeTest: 1
  std::optional<bool> lr_range_test_staircase;      // LRRangeTest: false
  std::optional<double> cycle_min_lr;               // OneCycle: required
  std::optional<double> cycle_max_lr;               // OneCycle: required
  std::optional<double> decay_lr_rate;              // OneCycle: 0
  std::optional<int64_t> cycle_first_step_size;     // OneCycle: 2000
  std::optional<int64_t> cycle_second_step_size;    // OneCycle: cycle_first_step_size
  std::optional<int64_t> cycle_first_stair_count;   // OneCycle: 0
  std::optional<int64_t> cycle_second_stair_count;  // OneCycle: cycle_first_stair_count
  std::optional<int64_t> decay_step_size;           // OneCycle: 0
  std::optional<bool> cycle_momentum;               // OneCycle: true
  std::optional<double> cycle_min_mom;              // OneCycle: 0.8
  std::optional<double> cycle_max_mom;              // OneCycle: 0.9
  std::optional<double> decay_mom_rate;             // OneCycle: 0
  std::optional<int64_t> last_batch_iteration;      // all: -1
};

struct SchedulerConfig {
  std::string type;  // WarmupLR, WarmupDecayLR, WarmupCosineLR, OneCycle, LRRangeTest; or empty
  SchedulerParams params;
};

// fp16: DeepSpeed's dynamic loss scaler. loss_scale 0 means dynamic, starting at
// 2^initial_scale_power; a positive loss_scale is static.
struct FP16Config {
  bool enabled = false;
  bool auto_cast = false;
  double loss_scale = 0.0;
  int64_t initial_scale_power = 16;
  int64_t loss_scale_window = 1000;
  int64_t hysteresis = 2;
  bool consecutive_hysteresis = false;
  double min_loss_scale = 1.0;
  bool fp16_master_weights_and_grads = false;
};

struct BF16Config {
  bool enabled = false;
  bool immediate_grad_update = false;
  bool check_grad_overflow = false;
};

struct OffloadParamConfig {
  std::string device = "none";  // none, cpu, nvme
  std::optional<std::string> nvme_path;
  int64_t buffer_count = 5;
  int64_t buffer_size = 100'000'000;
  int64_t max_in_cpu = 1'000'000'000;
  bool pin_memory = false;
};

struct OffloadOptimizerConfig {
  std::string device = "none";  // none, cpu, nvme
  std::optional<std::string> nvme_path;
  int64_t buffer_count = 4;
  bool pin_memory = false;
  bool pipeline_read = false;
  bool pipeline_write = false;
  bool fast_init = false;
  double ratio = 1.0;
};

struct ZeroConfig {
  int64_t stage = 0;
  bool contiguous_gradients = true;
  bool reduce_scatter = true;
  int64_t reduce_bucket_size = 500'000'000;
  bool use_multi_rank_bucket_allreduce = true;
  bool allgather_partitions = true;
  int64_t allgather_bucket_size = 500'000'000;
  std::optional<bool> overlap_comm;  // unset: true at stage 3, false below (resolve() fills it)
  bool load_from_fp32_weights = true;
  bool elastic_checkpoint = false;
  OffloadParamConfig offload_param;
  OffloadOptimizerConfig offload_optimizer;
  int64_t sub_group_size = 1'000'000'000;
  bool cpu_offload = false;                 // legacy: offload_optimizer.device = cpu
  bool cpu_offload_param = false;           // legacy: offload_param.device = cpu
  bool cpu_offload_use_pin_memory = false;  // legacy
  int64_t stage3_prefetch_bucket_size = 50'000'000;
  int64_t stage3_param_persistence_threshold = 100'000;
  int64_t stage3_model_persistence_threshold = std::numeric_limits<int64_t>::max();
  int64_t stage3_max_live_parameters = 1'000'000'000;
  int64_t stage3_max_reuse_distance = 1'000'000'000;
  bool stage3_gather_16bit_weights_on_model_save = false;
  bool stage3_gather_fp16_weights_on_model_save = false;  // legacy name of the above
  int64_t stage3_module_granularity_threshold = 0;
  bool stage3_use_all_reduce_for_fetch_params = false;
  bool ignore_unused_parameters = true;
  bool legacy_stage1 = false;
  bool round_robin_gradients = false;
  int64_t zero_hpz_partition_size = 1;
  bool zero_quantized_weights = false;
  bool zero_quantized_nontrainable_weights = false;
  bool zero_quantized_gradients = false;
  int64_t mics_shard_size = -1;
  bool mics_hierarchical_params_gather = false;
  bool memory_efficient_linear = true;
  bool override_module_apply = true;
};

struct ActivationCheckpointingConfig {
  bool partition_activations = false;
  std::optional<int64_t> number_checkpoints;
  bool contiguous_memory_optimization = false;
  bool synchronize_checkpoint_boundary = false;
  bool profile = false;
  bool cpu_checkpointing = false;
};

struct FlopsProfilerConfig {
  bool enabled = false;
  int64_t profile_step = 1;
  int64_t module_depth = -1;
  int64_t top_modules = 1;
  bool detailed = true;
  std::optional<std::string> output_file;
};

struct PipelineConfig {
  std::optional<int64_t> stages;  // "auto" (unset) or a stage count
  std::string partition = "best";
  bool seed_layers = false;
  int64_t activation_checkpoint_interval = 0;
  bool pipe_partitioned = true;
  bool grad_partitioned = true;
};

// Asynchronous I/O for offloading to NVMe.
struct AioConfig {
  int64_t block_size = 1'048'576;
  int64_t queue_depth = 8;
  int64_t thread_count = 1;
  bool single_submit = false;
  bool overlap_events = true;
  bool use_gds = false;
};

// tensorboard and csv_monitor; wandb has its own.
struct MonitorConfig {
  bool enabled = false;
  std::string output_path;
  std::string job_name = "DeepSpeedJobName";
};

struct WandbConfig {
  bool enabled = false;
  std::optional<std::string> group;
  std::optional<std::string> team;
  std::string project = "deepspeed";
};

struct CommsLoggerConfig {
  bool enabled = false;
  bool verbose = false;
  bool prof_all = true;
  bool debug = false;
};

struct DataTypesConfig {
  std::optional<std::string> grad_accum_dtype;  // fp32, fp16, bf16
};

// The whole file. Members in DeepSpeed's order of the docs; every default is DeepSpeed's.
struct Config {
  // The batch triad: unset ones are inferred by resolve() (a file may also say "auto").
  std::optional<int64_t> train_batch_size;
  std::optional<int64_t> train_micro_batch_size_per_gpu;
  std::optional<int64_t> gradient_accumulation_steps;
  int64_t steps_per_print = 10;
  bool wall_clock_breakdown = false;
  bool memory_breakdown = false;
  bool dump_state = false;
  OptimizerConfig optimizer;
  SchedulerConfig scheduler;
  double gradient_clipping = 0.0;  // 0: no clipping
  bool prescale_gradients = false;
  double gradient_predivide_factor = 1.0;
  std::optional<std::string> communication_data_type;  // fp32, fp16, bf16
  bool fp32_allreduce = false;
  bool sparse_gradients = false;
  bool disable_allgather = false;
  FP16Config fp16;
  BF16Config bf16;
  ZeroConfig zero_optimization;
  bool zero_allow_untested_optimizer = false;
  bool zero_force_ds_cpu_optimizer = true;
  ActivationCheckpointingConfig activation_checkpointing;
  FlopsProfilerConfig flops_profiler;
  PipelineConfig pipeline;
  AioConfig aio;
  MonitorConfig tensorboard;
  WandbConfig wandb;
  MonitorConfig csv_monitor;
  CommsLoggerConfig comms_logger;
  DataTypesConfig data_types;
  bool dataloader_drop_last = false;
  std::optional<int64_t> vocabulary_size;
  int64_t seed = 1337;  // Strata's: seeds the initialisation, dropout and data order

  // Throws strata::Error listing every problem: values out of range, keys that switch on an unbuilt
  // feature, optimizer/scheduler params that do not apply to their type or are missing, and a batch
  // triad that does not fit world_size (the data-parallel size).
  void validate(int64_t world_size = 1) const;
  // A copy with the batch triad inferred and every default filled in (optimizer and scheduler
  // params of their type, overlap_comm); validates first.
  Config resolve(int64_t world_size = 1) const;
  // The resolved batch triad in words: "train_batch_size 32 = train_micro_batch_size_per_gpu 4 x
  // gradient_accumulation_steps 4 x data-parallel size 2 (gradient_accumulation_steps inferred)".
  std::string explain_batch(int64_t world_size = 1) const;
  // The config as JSON, every key in DeepSpeed's nesting (optimizer and scheduler params only those
  // of their type). Call on resolve()'s result for every default filled in.
  std::string to_json() const;

  // What load_config noticed but did not reject: settings of unbuilt features the file sets (they
  // have no effect yet). Not part of the configuration.
  std::vector<std::string> notes;
};

// Reads a JSON or YAML file (yaml-cpp reads both). Throws strata::Error naming the file and listing
// every problem: unknown keys (with the closest valid key), wrong types (with the expected type),
// duplicate keys, values out of range and keys that switch on unbuilt features; given a world size,
// the batch triad too (otherwise validate/resolve check it).
Config load_config(const std::string& path, std::optional<int64_t> world_size = std::nullopt);
// The same from text; `source` names it in messages.
Config parse_config(const std::string& text, const std::string& source = "<config>",
                    std::optional<int64_t> world_size = std::nullopt);

}  // namespace strata::io
