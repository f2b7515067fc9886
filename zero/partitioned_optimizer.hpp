// PartitionedOptimizer: the optimizer side of ZeRO stages 1 and 2 (design decision 5). Each rank
// updates only its partition of each flat buffer (zero/partition.hpp), in compact coordinates:
//
// - the f32 master weights of the partition, one compact buffer per flat buffer ([partition_numel],
//   for f32 models too: the parameters themselves are only ever written from it);
// - the user's optimizer, *rebound*: group g's parameters become the 1-D slices of the masters that
//   this rank owns of group g's flat range (compact_range), one per buffer the group touches, none
//   when the rank owns nothing of it. The optimizer then updates f32 tensors and keeps no master
//   copies of its own; its group count and options are unchanged, so LR schedules and get_lr work.
//   Only element-wise optimizers can be partitioned (SGD, Adam, AdamW, Adagrad): LAMB's trust ratio
//   needs each parameter's norm across ranks and is rejected, as DeepSpeed does;
// - this rank's gradient partition in the model dtype: at stage 1 the rank's slice of each unit of
//   the flat gradient buffer (reduce-scattered in place there), at stage 2 a compact buffer per
//   flat buffer that the staged reduction accumulates into (zero/gradient_reducer.hpp).
//
// step() converts the gradient partition to a transient compact f32 gradient, sets it as the
// rebound parameters' .grad, steps the optimizer, drops the f32 gradient, rounds the updated
// masters into this rank's slice of each unit of the flat parameters, and all-gathers every unit
// in place (at most allgather_bucket_size elements in flight), so every rank ends with the full
// updated parameters.
//
// Offload (offload_optimizer.device, OptimizerOffload): "cpu" keeps the masters, the optimizer
// states and the transient f32 gradient in CPU memory and runs the update there (on a CUDA model
// the gradient partition is copied to the CPU and each updated slice back; in a CPU run this is the
// same memory, through the same code). "nvme" keeps the masters and states in files under
// nvme_path (zero/nvme_optimizer.hpp, one per entry) and streams them through in sub_group_size
// chunks: masters() are then undefined, the rebound groups hold no parameters (the optimizer
// keeps its options only), and each updated chunk goes straight into the flat parameters.
//
// Checkpoints: entry i of the rebound optimizer's state dict ("state.<i>.*", PyTorch's numbering
// over the groups in order) is entries()[i]: the compact range [begin, end) of buffer `buffer`'s
// partition. With the flat buffers' units, members and begins (Engine::flat_parameters()), that
// maps every state element to its parameter element on any layout.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/tensor.hpp"
#include "io/config.hpp"
#include "optim/optimizer.hpp"
#include "parallel/process_group.hpp"
#include "zero/flat_parameters.hpp"
#include "zero/nvme_optimizer.hpp"

namespace strata::zero {

// Where the masters and optimizer states live: offload_optimizer (device none, cpu or nvme, and
// the NVMe settings), the aio block and the NVMe step's chunk (zero_optimization.sub_group_size).
struct OptimizerOffload {
  io::OffloadOptimizerConfig config;
  io::AioConfig aio;
  int64_t sub_group_size = 1'000'000'000;
};

// One parameter of the rebound optimizer: a compact range of one buffer's partition.
struct PartitionEntry {
  size_t group = 0;  // the optimizer's parameter group
  int buffer = 0;    // FlatParameters::buffers() index
  int64_t begin = 0, end = 0;
};

class PartitionedOptimizer {
 public:
  // `flat`'s units are cut for the group's size (world 1 when `group` is null), and its
  // parameters hold the training's starting values on every rank. `staged`: stage 2's compact
  // gradient partitions (flat has no gradient buffers); else stage 1's slices of the flat
  // gradients. Rebinds `optimizer` (which must not have stepped).
  // Stage 3 passes `compact_params`, the parameters' compact partitions
  // (Stage3Parameters::partition): the masters start from them, and step() rounds the updated
  // masters into them instead of all-gathering the flat parameters (there are none).
  PartitionedOptimizer(const FlatParameters& flat, std::shared_ptr<optim::Optimizer> optimizer,
                       std::shared_ptr<dist::ProcessGroup> group, bool staged,
                       int64_t allgather_bucket_size, const OptimizerOffload& offload = {},
                       std::vector<Tensor> compact_params = {});

  // This rank's gradient partition, in the model dtype: what to unscale, check, measure and clip.
  const std::vector<Tensor>& gradients() const { return gradients_; }
  // Stage 2's compact gradient partition of each buffer (empty at stage 1).
  const std::vector<Tensor>& compact_gradients() const { return compact_gradients_; }
  // The f32 master weights of this rank's partition, one per buffer (undefined with NVMe offload).
  const std::vector<Tensor>& masters() const { return masters_; }
  // NVMe offload: the files and step of each entry (empty otherwise).
  const std::vector<std::unique_ptr<NvmeOptimizer>>& nvme() const { return nvme_; }
  // Bytes of masters and optimizer states held off the device: in CPU memory with CPU offload,
  // in files with NVMe offload (0 without offload).
  int64_t offloaded_bytes() const;
  const std::vector<PartitionEntry>& entries() const { return entries_; }

  // The optimizer step on the partition, then the all-gather of the parameters.
  void step();
  // Zeroes the gradient partition (the flat gradients at stage 1).
  void zero_grads();

 private:
  FlatParameters flat_;  // shares the engine's tensors
  std::shared_ptr<optim::Optimizer> optimizer_;
  std::shared_ptr<dist::ProcessGroup> group_;
  int rank_ = 0;
  int64_t allgather_bucket_size_;
  std::vector<Tensor> masters_;
  std::vector<Tensor> gradients_;
  std::vector<Tensor> compact_gradients_;
  std::vector<Tensor> compact_params_;  // stage 3
  std::vector<PartitionEntry> entries_;
  std::string offload_device_;
  std::vector<std::unique_ptr<NvmeOptimizer>> nvme_;  // one per entry with NVMe offload

  // Copies values, the compact range [begin, begin + numel) of buffer b's partition, into this
  // rank's slices of the flat parameters.
  void write_compact(size_t b, int64_t begin, const Tensor& values) const;
};

}  // namespace strata::zero
