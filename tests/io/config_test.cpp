// The training config: DeepSpeed example configs (tests/io/configs) load unchanged, defaults are
// DeepSpeed's, the batch triad, each class of error with its message, programmatic configs, and
// docs/CONFIG.md's key table against the code's.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "io/config.hpp"
#include "io/config_keys.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

std::string config_path(const std::string& name) {
  return std::string(STRATA_CONFIG_TEST_DIR) + "/" + name;
}

std::string parse_error(const std::string& text, int64_t world_size = 1) {
  return test::error_of([&] { io::parse_config(text).validate(world_size); });
}

TEST_CASE("config: DeepSpeed's defaults") {
  io::Config c;
  CHECK(c.steps_per_print == 10);
  CHECK(c.gradient_clipping == 0.0);
  CHECK(c.gradient_predivide_factor == 1.0);
  CHECK_FALSE(c.prescale_gradients);
  CHECK_FALSE(c.wall_clock_breakdown);
  CHECK_FALSE(c.fp16.enabled);
  CHECK(c.fp16.loss_scale == 0.0);
  CHECK(c.fp16.initial_scale_power == 16);
  CHECK(c.fp16.loss_scale_window == 1000);
  CHECK(c.fp16.hysteresis == 2);
  CHECK_FALSE(c.fp16.consecutive_hysteresis);
  CHECK(c.fp16.min_loss_scale == 1.0);
  CHECK_FALSE(c.bf16.enabled);
  CHECK(c.zero_optimization.stage == 0);
  CHECK(c.zero_optimization.reduce_bucket_size == 500'000'000);
  CHECK(c.zero_optimization.allgather_bucket_size == 500'000'000);
  CHECK(c.zero_optimization.contiguous_gradients);
  CHECK(c.zero_optimization.reduce_scatter);
  CHECK(c.zero_optimization.allgather_partitions);
  CHECK(c.zero_optimization.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(c.zero_optimization.stage3_param_persistence_threshold == 100'000);
  CHECK(c.zero_optimization.stage3_max_live_parameters == 1'000'000'000);
  CHECK(c.zero_optimization.stage3_max_reuse_distance == 1'000'000'000);
  CHECK(c.zero_optimization.sub_group_size == 1'000'000'000);
  CHECK(c.zero_optimization.offload_optimizer.device == "none");
  CHECK(c.zero_optimization.offload_optimizer.buffer_count == 4);
  CHECK(c.zero_optimization.offload_param.buffer_count == 5);
  CHECK(c.zero_optimization.offload_param.buffer_size == 100'000'000);
  CHECK(c.zero_optimization.offload_param.max_in_cpu == 1'000'000'000);
  CHECK(c.flops_profiler.profile_step == 1);
  CHECK(c.flops_profiler.module_depth == -1);
  CHECK(c.flops_profiler.top_modules == 1);
  CHECK(c.flops_profiler.detailed);
  CHECK(c.aio.block_size == 1'048'576);
  CHECK(c.aio.queue_depth == 8);
  CHECK(c.aio.thread_count == 1);
  CHECK(c.aio.overlap_events);
  CHECK(c.pipeline.partition == "best");
  CHECK(c.pipeline.pipe_partitioned);
  CHECK(c.tensorboard.job_name == "DeepSpeedJobName");
  CHECK(c.wandb.project == "deepspeed");

  // overlap_comm follows the stage; optimizer and scheduler params follow their type.
  io::Config r = io::parse_config(R"({"train_batch_size": 8,
      "optimizer": {"type": "adam"}, "scheduler": {"type": "WarmupCosineLR",
      "params": {"total_num_steps": 100}}})")
                     .resolve();
  CHECK(r.zero_optimization.overlap_comm == false);
  CHECK(r.optimizer.type == "Adam");
  CHECK(r.optimizer.params.lr == 1e-3);
  CHECK(r.optimizer.params.betas == std::array<double, 2>{0.9, 0.999});
  CHECK(r.optimizer.params.eps == 1e-8);
  CHECK(r.optimizer.params.weight_decay == 0.0);
  CHECK(r.optimizer.params.adam_w_mode == true);
  CHECK(r.optimizer.params.bias_correction == true);
  CHECK_FALSE(r.optimizer.params.momentum.has_value());
  CHECK(r.scheduler.params.warmup_num_steps == 1000);
  CHECK(r.scheduler.params.warmup_min_ratio == 0.0);
  CHECK(r.scheduler.params.cos_min_ratio == 1e-4);
  CHECK(r.scheduler.params.warmup_type == "log");
  CHECK(r.scheduler.params.last_batch_iteration == -1);
  CHECK_FALSE(r.scheduler.params.warmup_max_lr.has_value());

  io::Config adagrad =
      io::parse_config(R"({"train_batch_size": 8, "optimizer": {"type": "Adagrad"}})").resolve();
  CHECK(adagrad.optimizer.params.lr == 1e-2);
  CHECK(adagrad.optimizer.params.eps == 1e-10);
  io::Config one_cycle = io::parse_config(R"({"train_batch_size": 8, "scheduler": {"type":
      "OneCycle", "params": {"cycle_min_lr": 1e-4, "cycle_max_lr": 1e-3}}})")
                             .resolve();
  CHECK(one_cycle.scheduler.params.cycle_first_step_size == 2000);
  CHECK(one_cycle.scheduler.params.cycle_min_mom == 0.8);
  CHECK(one_cycle.scheduler.params.cycle_max_mom == 0.9);
  CHECK(one_cycle.scheduler.params.cycle_momentum == true);
  CHECK_FALSE(one_cycle.scheduler.params.cycle_second_step_size.has_value());
}

TEST_CASE("config: DeepSpeed example configs load unchanged, YAML twins alike") {
  io::Config bf16 = io::load_config(config_path("bf16_adamw_warmupdecay.json")).resolve(2);
  CHECK(bf16.bf16.enabled);
  CHECK(bf16.train_batch_size == 32);
  CHECK(bf16.optimizer.type == "AdamW");
  CHECK(bf16.optimizer.params.betas == std::array<double, 2>{0.9, 0.95});
  CHECK(bf16.scheduler.params.total_num_steps == 5000);
  CHECK(bf16.scheduler.params.warmup_type == "linear");
  CHECK(bf16.seed == 42);
  CHECK(io::load_config(config_path("bf16_adamw_warmupdecay.json")).explain_batch(2) ==
        "train_batch_size 32 = train_micro_batch_size_per_gpu 4 x gradient_accumulation_steps 4 "
        "x data-parallel size 2 (inferred: train_batch_size)");

  io::Config offload = io::load_config(config_path("offload_none.json")).resolve(4);
  CHECK(offload.fp16.enabled);
  CHECK(offload.fp16.initial_scale_power == 12);
  CHECK(offload.train_micro_batch_size_per_gpu == 4);
  CHECK(offload.zero_optimization.stage3_prefetch_bucket_size == 900'000);
  CHECK(offload.zero_optimization.sub_group_size == 1'000'000'000);
  CHECK(offload.zero_optimization.offload_optimizer.pin_memory);
  // The settings of unbuilt features it sets are noted, not dropped in silence.
  bool noted = false;
  for (const std::string& note : offload.notes) {
    noted |= test::contains(note, "zero_optimization.offload_optimizer.pin_memory: accepted");
  }
  CHECK(noted);

  for (const char* name : {"bf16_adamw_warmupdecay", "offload_none"}) {
    CAPTURE(name);
    std::string json =
        io::load_config(config_path(std::string(name) + ".json")).resolve(2).to_json();
    std::string yaml =
        io::load_config(config_path(std::string(name) + ".yaml")).resolve(2).to_json();
    CHECK(json == yaml);
    // The printed config reads back to itself.
    CHECK(io::parse_config(json).resolve(2).to_json() == json);
  }

  // A ZeRO-2 config loads unchanged, and so does stage 3.
  io::Config zero2 = io::load_config(config_path("zero2_fp16.json")).resolve(8);
  CHECK(zero2.zero_optimization.stage == 2);
  CHECK(zero2.zero_optimization.allgather_bucket_size == 500'000'000);
  CHECK(io::parse_config(R"({"zero_optimization": {"stage": 3}})").zero_optimization.stage == 3);
}

TEST_CASE("config: the batch triad") {
  auto resolved = [](const std::string& text, int64_t world_size) {
    io::Config c = io::parse_config(text).resolve(world_size);
    return std::array<int64_t, 3>{*c.train_batch_size, *c.train_micro_batch_size_per_gpu,
                                  *c.gradient_accumulation_steps};
  };
  using Triad = std::array<int64_t, 3>;
  CHECK(resolved(R"({"train_batch_size": 32, "train_micro_batch_size_per_gpu": 4})", 2) ==
        Triad{32, 4, 4});
  CHECK(resolved(R"({"train_batch_size": 32, "gradient_accumulation_steps": 2})", 4) ==
        Triad{32, 4, 2});
  CHECK(resolved(R"({"train_micro_batch_size_per_gpu": 3, "gradient_accumulation_steps": 5})", 2) ==
        Triad{30, 3, 5});
  CHECK(resolved(R"({"train_batch_size": 16})", 4) == Triad{16, 4, 1});
  CHECK(resolved(R"({"train_micro_batch_size_per_gpu": 8})", 3) == Triad{24, 8, 1});
  CHECK(resolved(R"({"train_batch_size": "auto", "train_micro_batch_size_per_gpu": 2,
                     "gradient_accumulation_steps": 3})",
                 1) == Triad{6, 2, 3});
  CHECK(resolved(R"({"train_batch_size": 24, "train_micro_batch_size_per_gpu": 2,
                     "gradient_accumulation_steps": 3})",
                 4) == Triad{24, 2, 3});

  CHECK(test::contains(parse_error(R"({"train_batch_size": 30, "train_micro_batch_size_per_gpu": 4,
                                       "gradient_accumulation_steps": 4})",
                                   2),
                       "train_batch_size 30 != train_micro_batch_size_per_gpu 4 x "
                       "gradient_accumulation_steps 4 x data-parallel size 2 = 32"));
  CHECK(test::contains(
      parse_error(R"({"train_batch_size": 30, "train_micro_batch_size_per_gpu": 4})", 2),
      "train_batch_size 30 is not a multiple of train_micro_batch_size_per_gpu 4 x data-parallel "
      "size 2 = 8, so gradient_accumulation_steps cannot be inferred"));
  CHECK(test::contains(parse_error(R"({"gradient_accumulation_steps": 4})"),
                       "give train_batch_size or train_micro_batch_size_per_gpu"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8})", 0),
                       "world size: must be at least 1"));
}

TEST_CASE("config: unknown keys name the path and the closest key") {
  std::string error = parse_error(R"({"train_batch_size": 8, "fp16": {"loss_scale_windw": 100},
      "zero_optimization": {"stage3_prefetch_bucket": 1, "offload_optimizer": {"devise": "cpu"}},
      "gradient_clippin": 1.0, "bananas": 1})");
  CHECK(test::contains(error, "5 problems"));
  CHECK(test::contains(error,
                       "fp16.loss_scale_windw: unknown key in fp16; did you mean "
                       "loss_scale_window?"));
  CHECK(test::contains(error,
                       "zero_optimization.stage3_prefetch_bucket: unknown key in "
                       "zero_optimization; did you mean stage3_prefetch_bucket_size?"));
  CHECK(test::contains(error,
                       "zero_optimization.offload_optimizer.devise: unknown key in "
                       "zero_optimization.offload_optimizer; did you mean device?"));
  CHECK(test::contains(error, "gradient_clippin: unknown key; did you mean gradient_clipping?"));
  CHECK(test::contains(error, "bananas: unknown key"));
  // A param of another optimizer type.
  CHECK(test::contains(
      parse_error(R"({"train_batch_size": 8, "optimizer": {"type": "Adam", "params":
                     {"momentum": 0.9}}})"),
      "optimizer.params.momentum: does not apply to Adam (its params: lr, betas, eps"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "optimizer": {"params":
                                       {"lr": 0.1}}})"),
                       "optimizer.params: given without optimizer.type"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "train_batch_size": 8})"),
                       "train_batch_size: duplicate key"));
}

TEST_CASE("config: every problem of a file in one message") {
  std::string error =
      test::error_of([] { io::load_config(config_path("invalid.json"), /*world_size=*/2); });
  CHECK(test::contains(error, "invalid.json: 4 problems\n"));
  CHECK(test::contains(error, "fp16.enabled: expected boolean"));
  CHECK(test::contains(error, "fp16.loss_scale_windw: unknown key"));
  CHECK(test::contains(error, "zero_optimization.stage: must be between 0 and 3\n"));
  CHECK(test::contains(error, "train_batch_size 30 != train_micro_batch_size_per_gpu 4"));
  CHECK(test::contains(io::parse_config(R"({"optimizer": {"type": "AdamW", "params":
                                           {"lr": 0.0003}}})")
                           .to_json(),
                       "\"lr\": 3e-4,"));
}

TEST_CASE("config: wrong types name the expected type") {
  std::string error = parse_error(R"({"train_batch_size": "8", "fp16": {"enabled": "yes",
      "loss_scale": [1]}, "optimizer": {"type": "AdamW", "params": {"betas": [0.9]}},
      "steps_per_print": 2.5, "zero_optimization": {"stage": true}, "bf16": 1})");
  CHECK(test::contains(error, "train_batch_size: expected integer, got the string \"8\""));
  CHECK(test::contains(error, "fp16.enabled: expected boolean, got the string \"yes\""));
  CHECK(test::contains(error, "fp16.loss_scale: expected number, got a list"));
  CHECK(test::contains(error, "optimizer.params.betas: expected [number, number], got a list"));
  CHECK(test::contains(error, "steps_per_print: expected integer, got 2.5"));
  CHECK(test::contains(error, "zero_optimization.stage: expected integer, got true"));
  CHECK(test::contains(error, "bf16: expected an object"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "gradient_clipping": "auto"})"),
                       "gradient_clipping: \"auto\" is a placeholder that the Hugging Face "
                       "Trainer fills in"));
  CHECK(test::contains(test::error_of([] { io::parse_config("{\"a\": [1, 2"); }),
                       "not valid JSON or YAML"));
  CHECK(test::contains(test::error_of([] { io::parse_config("[1, 2]"); }),
                       "a config is a JSON or YAML object"));
}

TEST_CASE("config: values out of range name the rule") {
  std::string error = parse_error(R"({"train_batch_size": -8, "zero_optimization": {"stage": 4},
      "fp16": {"enabled": true, "hysteresis": 0, "min_loss_scale": -1},
      "gradient_clipping": -1, "optimizer": {"type": "AdamW", "params": {"betas": [0.9, 1.5]}},
      "scheduler": {"type": "WarmupLR", "params": {"warmup_type": "cosine"}}})");
  CHECK(test::contains(error, "train_batch_size: must be positive"));
  CHECK(test::contains(error, "zero_optimization.stage: must be between 0 and 3"));
  CHECK(test::contains(error, "fp16.hysteresis: must be positive"));
  CHECK(test::contains(error, "fp16.min_loss_scale: must be at least 0"));
  CHECK(test::contains(error, "gradient_clipping: must be at least 0"));
  CHECK(test::contains(error, "optimizer.params.betas: each beta must be in [0, 1)"));
  CHECK(test::contains(error, "scheduler.params.warmup_type: must be one of \"log\", \"linear\""));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "fp16": {"enabled": true},
                                       "bf16": {"enabled": true}})"),
                       "fp16 and bf16 cannot both be enabled"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "optimizer": {"type": "SGD"}})"),
                       "optimizer.params.lr: required for SGD"));
  CHECK(test::contains(
      parse_error(R"({"train_batch_size": 8, "scheduler": {"type": "WarmupDecayLR"}})"),
      "scheduler.params.total_num_steps: required for WarmupDecayLR"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "optimizer": {"type": "AdamW",
                                       "params": {"adam_w_mode": false}}})"),
                       "false contradicts type AdamW"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "optimizer": {"type": "Adamm"}})"),
                       "optimizer.type: unknown type \"Adamm\"; did you mean Adam?"));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "scheduler": {"type": "warmuplr"}})"),
                       "scheduler.type: unknown type \"warmuplr\"; did you mean WarmupLR?"));
}

TEST_CASE("config: offload_optimizer needs a ZeRO stage, and nvme a folder") {
  io::parse_config(R"({"train_batch_size": 8, "zero_optimization": {"stage": 1,
      "offload_optimizer": {"device": "nvme", "nvme_path": "/tmp", "pipeline_read": true},
      "sub_group_size": 1000}, "aio": {"block_size": 4096, "thread_count": 2}})")
      .validate();
  io::parse_config(R"({"train_batch_size": 8, "zero_optimization": {"stage": 2,
      "cpu_offload": true}})")
      .validate();
  std::string error = parse_error(R"({"train_batch_size": 8, "zero_optimization": {
      "offload_optimizer": {"device": "nvme"}}})");
  CHECK(test::contains(error,
                       "zero_optimization.offload_optimizer.device: offload needs "
                       "zero_optimization.stage 1 or 2"));
  CHECK(test::contains(error,
                       "zero_optimization.offload_optimizer.nvme_path: required with "
                       "offload_optimizer.device \"nvme\""));
  CHECK(test::contains(parse_error(R"({"train_batch_size": 8, "zero_optimization": {
      "cpu_offload": true}})"),
                       "offload needs zero_optimization.stage 1 or 2"));
}

TEST_CASE("config: unbuilt features are accepted off and rejected on") {
  io::Config off = io::parse_config(R"({"train_batch_size": 8, "zero_optimization": false,
      "pipeline": {"stages": "auto"}, "flops_profiler": {"enabled": false},
      "sparse_attention": {"enabled": false, "mode": "fixed"}, "tensorboard": {"enabled": false},
      "amp": {"enabled": false, "opt_level": "O1"}, "fp16": {"min_loss_scale": 0.0},
      "communication_data_type": null})");
  off.validate();
  std::string error = parse_error(R"({"train_batch_size": 8,
      "zero_optimization": {"stage": 3, "offload_param": {"device": "nvme"}, "cpu_offload_param": true},
      "flops_profiler": {"enabled": true}, "pipeline": {"stages": 2}, "wandb": {"enabled": true},
      "sparse_attention": {"mode": "fixed"}, "optimizer": {"type": "OneBitAdam"},
      "communication_data_type": "fp16", "activation_checkpointing":
      {"partition_activations": true}})");
  CHECK(test::contains(error, "9 problems"));
  CHECK(test::contains(error,
                       "not supported yet: zero_optimization.offload_param.device = "
                       "\"nvme\" (ZeRO-Offload is not built yet; accepted: \"none\")"));
  CHECK(test::contains(error, "not supported yet: zero_optimization.cpu_offload_param = true"));
  CHECK(test::contains(error, "not supported yet: flops_profiler.enabled = true"));
  CHECK(test::contains(error, "not supported yet: pipeline.stages = 2"));
  CHECK(test::contains(error, "not supported yet: wandb.enabled = true"));
  CHECK(test::contains(error,
                       "\n  not supported yet: sparse_attention (sparse attention is not "
                       "built yet; only {\"enabled\": false} is accepted)"));
  CHECK(test::contains(error,
                       "not supported yet: optimizer.type = \"OneBitAdam\" (Strata has "
                       "Adam, AdamW, Lamb, SGD, Adagrad)"));
  CHECK(test::contains(error, "not supported yet: communication_data_type = \"fp16\""));
  CHECK(test::contains(error, "not supported yet: activation_checkpointing.partition_activations"));
  // The legacy "zero_optimization": true meant stage 1.
  CHECK(io::parse_config(R"({"train_batch_size": 8, "zero_optimization": true})")
            .zero_optimization.stage == 1);
}

TEST_CASE("config: built in C++, validated the same way") {
  io::Config config{.train_micro_batch_size_per_gpu = 8,
                    .gradient_accumulation_steps = 2,
                    .optimizer = {.type = "AdamW", .params = {.lr = 3e-4, .weight_decay = 0.1}},
                    .scheduler = {.type = "WarmupLR", .params = {.warmup_num_steps = 100}},
                    .gradient_clipping = 1.0,
                    .bf16 = {.enabled = true}};
  config.validate(4);
  io::Config r = config.resolve(4);
  CHECK(r.train_batch_size == 64);
  CHECK(r.optimizer.params.eps == 1e-8);
  CHECK(r.scheduler.params.warmup_min_lr == 0.0);
  CHECK(io::parse_config(r.to_json()).resolve(4).to_json() == r.to_json());

  config.zero_optimization.zero_quantized_weights = true;
  config.optimizer.params.momentum = 0.9;
  std::string error = test::error_of([&] { config.validate(4); });
  CHECK(
      test::contains(error, "not supported yet: zero_optimization.zero_quantized_weights = true"));
  CHECK(test::contains(error, "optimizer.params.momentum: does not apply to AdamW"));
}

TEST_CASE("config: every key the writer prints, the reader takes back") {
  // The defaults: every key outside optimizer and scheduler.
  std::string defaults = io::Config{}.to_json();
  CHECK(io::parse_config(defaults).to_json() == defaults);
  // Each optimizer and scheduler type with all its params.
  for (const char* type : {"Adam", "AdamW", "Lamb", "SGD", "Adagrad"}) {
    CAPTURE(type);
    io::Config c{.train_batch_size = 8, .optimizer = {.type = type, .params = {.lr = 0.1}}};
    std::string json = c.resolve().to_json();
    CHECK(io::parse_config(json).resolve().to_json() == json);
  }
  for (const char* type :
       {"WarmupLR", "WarmupDecayLR", "WarmupCosineLR", "OneCycle", "LRRangeTest"}) {
    CAPTURE(type);
    io::Config c{.train_batch_size = 8, .scheduler = {.type = type}};
    if (std::string(type) == "WarmupDecayLR" || std::string(type) == "WarmupCosineLR") {
      c.scheduler.params.total_num_steps = 100;
    }
    if (std::string(type) == "OneCycle") {
      c.scheduler.params.cycle_min_lr = 1e-4;
      c.scheduler.params.cycle_max_lr = 1e-3;
    }
    std::string json = c.resolve().to_json();
    CHECK(io::parse_config(json).resolve().to_json() == json);
  }
}

TEST_CASE("config: docs/CONFIG.md lists every key as the table says") {
  std::ifstream file(std::string(STRATA_SOURCE_DIR) + "/docs/CONFIG.md");
  REQUIRE(file);
  std::stringstream text;
  text << file.rdbuf();
  // Regenerate with: strata-config keys
  CHECK(test::contains(text.str(), io::config_keys_markdown()));
}

}  // namespace
}  // namespace strata
