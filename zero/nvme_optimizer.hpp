// NvmeOptimizer: NVMe offload of the optimizer (offload_optimizer.device = "nvme"). The f32 master
// weights and optimizer states of one rank's partition live in files (zero/nvme_swapper.hpp)
// between steps; a step streams them through memory in chunks of sub_group_size elements, reading
// the next chunks while one is updated (pipeline_read) and writing updated chunks while the next
// ones are (pipeline_write), so that only a few chunks are ever in memory.
//
// Chunk buffers: a chunk needs one buffer for its master values and one per optimizer state. The
// chunks in memory at once (slots) are 1, plus 1 with pipeline_read, plus 1 with pipeline_write,
// as far as buffer_count buffers allow (at least one slot); they exist during a step only: Adam's
// three buffers a slot make the default buffer_count of 4 one slot, and pipelining both ways asks
// for 9.
//
// The update is the optimizer's own kernel on each chunk (Optimizer::update_range, with the
// group's options of the moment: schedules apply), so the values equal those of the resident
// optimizer bit for bit. Per-parameter optimizers (LAMB's trust ratio) cannot be chunked and are
// refused.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "io/config.hpp"
#include "optim/optimizer.hpp"
#include "zero/nvme_swapper.hpp"

namespace strata::zero {

class NvmeOptimizer {
 public:
  // Writes `master` (f32 [n]: the partition's starting values) and the states' initial values to
  // files under offload.nvme_path. `optimizer`'s group `group` gives the options and the states;
  // it must outlive this object. `tag` names this rank's files.
  NvmeOptimizer(const optim::Optimizer& optimizer, int64_t group, const Tensor& master,
                int64_t sub_group_size, const io::OffloadOptimizerConfig& offload,
                const io::AioConfig& aio, const std::string& tag);

  // One step with the partition's gradient `grad` ([n], f32 or 16-bit, on the CPU). After each
  // chunk is updated, calls updated(begin, master) with its new f32 values (elements
  // [begin, begin + master.numel()) of the partition), in order, for the caller to copy into its
  // parameters; `master` is valid during the call only.
  void step(const Tensor& grad,
            const std::function<void(int64_t begin, const Tensor& master)>& updated);

  // The whole master partition, read back (for checkpoints and evaluation).
  Tensor master() const;
  // One state's whole partition, read back ("exp_avg", ...).
  Tensor state(const std::string& name) const;
  // Replaces the partition's values (a checkpoint's): the master, the states by name (each [n]
  // f32 elements; the optimizer's states not given restart from their initial values) and the
  // number of steps taken.
  void load(const Tensor& master, const std::map<std::string, Tensor>& states, int64_t steps);

  int64_t numel() const { return numel_; }
  int64_t steps() const { return steps_; }
  int64_t chunk() const { return chunk_; }
  // Bytes in files (master and states), and bytes of the chunk buffers the last step used (they
  // are freed when it ends: between steps nothing of the partition is in memory).
  int64_t offloaded_bytes() const { return swapper_.bytes(); }
  int64_t buffer_bytes() const { return buffer_bytes_; }
  const NvmeSwapper& swapper() const { return swapper_; }

 private:
  // Files for the states the group's options need now (a schedule or the user may switch amsgrad
  // on): made with their initial values the first time they are needed.
  std::vector<optim::StateSpec> ensure_state_files();
  Tensor read_whole(const std::string& name) const;

  const optim::Optimizer& optimizer_;
  int64_t group_;
  int64_t numel_, chunk_;
  int64_t steps_ = 0;
  const io::OffloadOptimizerConfig offload_;
  mutable NvmeSwapper swapper_;
  int64_t buffer_bytes_ = 0;
};

}  // namespace strata::zero
