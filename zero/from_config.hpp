// The optimizer and the LR schedule a config names (optimizer {type, params}, scheduler {type,
// params}), built as DeepSpeed builds them: type Adam decays weights decoupled (AdamW) unless
// adam_w_mode is false; every parameter not set takes the default resolve() filled in.
#pragma once

#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "io/config.hpp"
#include "optim/lr_schedules.hpp"
#include "optim/optimizer.hpp"

namespace strata::zero {

// `config` is resolved (io::Config::resolve); its optimizer.type is not empty. One group over
// `parameters`.
std::shared_ptr<optim::Optimizer> make_optimizer(const io::Config& config,
                                                 std::vector<Tensor> parameters);
// The schedule of a resolved config over `optimizer`, or null when scheduler.type is empty.
std::shared_ptr<optim::LRScheduler> make_scheduler(const io::Config& config,
                                                   optim::Optimizer& optimizer);

}  // namespace strata::zero
