// The samples' --config flag: a DeepSpeed-style config file (JSON or YAML), with the few flags a
// run may override on the command line (--dtype, --batch) applied over it, so that a sweep does
// not need a file per setting.
#pragma once

#include <cstdio>
#include <string>

#include "io/config.hpp"
#include "parallel/dist.hpp"
#include "samples/common/device_flags.hpp"

namespace strata::samples {

// Reads `path`; a non-empty dtype ("f32", "bf16", "f16") sets fp16.enabled and bf16.enabled, and
// a positive micro_batch sets train_micro_batch_size_per_gpu (train_batch_size is then inferred).
// Prints the file and the resolved batch sizes (on rank 0 only, when dist::init has been called).
inline io::Config load_sample_config(const std::string& path, const std::string& dtype,
                                     int64_t micro_batch) {
  io::Config config = io::load_config(path);
  if (!dtype.empty()) {
    const DType model_dtype = parse_model_dtype(dtype);
    config.fp16.enabled = model_dtype == DType::f16;
    config.bf16.enabled = model_dtype == DType::bf16;
  }
  if (micro_batch > 0) {
    config.train_micro_batch_size_per_gpu = micro_batch;
    config.train_batch_size.reset();
  }
  if (!dist::is_initialized() || dist::rank() == 0) {
    const int ranks = dist::is_initialized() ? dist::world_size() : 1;
    std::printf("config: %s; %s\n", path.c_str(), config.explain_batch(ranks).c_str());
  }
  return config;
}

// The weights' dtype the config asks for, as --dtype names it.
inline std::string config_dtype(const io::Config& config) {
  return config.fp16.enabled ? "f16" : config.bf16.enabled ? "bf16" : "f32";
}

}  // namespace strata::samples
