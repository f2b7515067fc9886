// PartitionedOptimizer: rebinding, the compact masters and gradients, the step on the partition
// and the all-gather of the parameters (partitioned_optimizer.hpp).
#include "zero/partitioned_optimizer.hpp"

#include <algorithm>
#include <deque>
#include <string_view>

#include "core/autograd_record.hpp"
#include "core/error.hpp"
#include "core/factories.hpp"

namespace strata::zero {

PartitionedOptimizer::PartitionedOptimizer(const FlatParameters& flat,
                                           std::shared_ptr<optim::Optimizer> optimizer,
                                           std::shared_ptr<dist::ProcessGroup> group, bool staged,
                                           int64_t allgather_bucket_size,
                                           const OptimizerOffload& offload,
                                           std::vector<Tensor> compact_params)
    : flat_(flat),
      optimizer_(std::move(optimizer)),
      group_(std::move(group)),
      rank_(group_ ? group_->rank() : 0),
      allgather_bucket_size_(allgather_bucket_size),
      offload_device_(offload.config.device),
      compact_params_(std::move(compact_params)) {
  STRATA_CHECK(offload_device_ == "none" || offload_device_ == "cpu" || offload_device_ == "nvme",
               "PartitionedOptimizer: offload_optimizer.device must be none, cpu or nvme, got '",
               offload_device_, "'");
  STRATA_CHECK(
      std::string_view(optimizer_->name()) != "LAMB",
      "ZeRO stages 1-3 partition the optimizer state element-wise, and LAMB's trust ratio ",
      "needs each parameter's whole norm: use zero_optimization.stage 0 with LAMB, or an ",
      "element-wise optimizer (SGD, Adam, AdamW, Adagrad) with ZeRO");
  const int world = group_ ? group_->size() : 1;
  const std::vector<FlatBuffer>& buffers = flat_.buffers();
  autograd::NoGradGuard no_grad;
  for (const FlatBuffer& b : buffers) {
    STRATA_CHECK(b.units.world == world, "PartitionedOptimizer: units cut for ", b.units.world,
                 " ranks, the data-parallel group has ", world);
    const BufferUnits& units = b.units;
    // Offloaded masters (and so the states the optimizer makes like them) live in CPU memory.
    const Device state_device = offload_device_ == "none" ? b.params.device() : Device::cpu();
    Tensor master = compact_params_.empty()
                        ? zeros({units.partition_numel()}, {DType::f32, state_device})
                        : compact_params_[masters_.size()].to({DType::f32, state_device});
    Tensor compact_grad;
    if (staged) {
      compact_grad = zeros({units.partition_numel()}, b.params.options());
      compact_gradients_.push_back(compact_grad);
      gradients_.push_back(compact_grad);
    }
    for (size_t u = 0; u < units.units.size(); ++u) {
      const Unit& unit = units.units[u];
      if (unit.slice == 0) continue;
      auto [first, last] = units.slice_range(u, rank_);
      if (compact_params_.empty()) {
        master.narrow(0, unit.compact_begin, unit.slice)
            .copy_(b.params.narrow(0, first, unit.slice));
      }
      if (!staged) gradients_.push_back(b.grads.narrow(0, first, unit.slice));
    }
    masters_.push_back(master);
  }

  // The flat layout lists each group's parameters in order, buffer by buffer: group g's members
  // of buffer b are a run [first, end) of b's members.
  std::vector<size_t> next(buffers.size(), 0);
  std::vector<optim::ParamGroup>& groups = optimizer_->param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<size_t> first(next);
    for (const Tensor& p : groups[g].params) {
      bool found = false;
      for (size_t b = 0; b < buffers.size() && !found; ++b) {
        if (next[b] < buffers[b].members.size() && buffers[b].members[next[b]].is_same(p)) {
          ++next[b];
          found = true;
        }
      }
      STRATA_CHECK(found, "PartitionedOptimizer: the optimizer's parameter groups are not laid ",
                   "out in the flat buffers (group ", g, ")");
    }
    std::vector<Tensor> owned;
    for (size_t b = 0; b < buffers.size(); ++b) {
      if (next[b] == first[b]) continue;
      const FlatBuffer& buffer = buffers[b];
      const int64_t begin = buffer.begins[first[b]];
      const int64_t end = buffer.begins[next[b] - 1] + buffer.members[next[b] - 1].numel();
      auto [compact_begin, compact_end] = buffer.units.compact_range(begin, end, rank_);
      if (compact_begin == compact_end) continue;
      entries_.push_back(
          {.group = g, .buffer = static_cast<int>(b), .begin = compact_begin, .end = compact_end});
      owned.push_back(masters_[b].narrow(0, compact_begin, compact_end - compact_begin));
    }
    groups[g].params = std::move(owned);
  }
  if (offload_device_ != "nvme") return;
  // The masters and states go to files; nothing of them stays in memory.
  for (size_t i = 0; i < entries_.size(); ++i) {
    const PartitionEntry& e = entries_[i];
    nvme_.push_back(std::make_unique<NvmeOptimizer>(
        *optimizer_, static_cast<int64_t>(e.group),
        masters_[e.buffer].narrow(0, e.begin, e.end - e.begin), offload.sub_group_size,
        offload.config, offload.aio,
        "rank" + std::to_string(rank_) + "_entry" + std::to_string(i)));
  }
  for (optim::ParamGroup& g : groups) g.params.clear();
  for (Tensor& master : masters_) master = Tensor();
}

int64_t PartitionedOptimizer::offloaded_bytes() const {
  if (offload_device_ == "none") return 0;
  int64_t bytes = optimizer_->state_bytes();
  for (const Tensor& m : masters_)
    if (m.defined()) bytes += m.numel() * 4;
  for (const auto& nvme : nvme_) bytes += nvme->offloaded_bytes();
  return bytes;
}

void PartitionedOptimizer::write_compact(size_t b, int64_t begin, const Tensor& values) const {
  if (!compact_params_.empty()) {  // stage 3: the compact partition is the parameters' home
    compact_params_[b].narrow(0, begin, values.numel()).copy_(values);
    return;
  }
  const FlatBuffer& buffer = flat_.buffers()[b];
  const BufferUnits& units = buffer.units;
  const int64_t end = begin + values.numel();
  for (size_t u = 0; u < units.units.size(); ++u) {
    const Unit& unit = units.units[u];
    const int64_t lo = std::max(begin, unit.compact_begin);
    const int64_t hi = std::min(end, unit.compact_begin + unit.slice);
    if (lo >= hi) continue;
    const int64_t first = units.slice_range(u, rank_).first;
    buffer.params.narrow(0, first + (lo - unit.compact_begin), hi - lo)
        .copy_(values.narrow(0, lo - begin, hi - lo));
  }
}

void PartitionedOptimizer::step() {
  autograd::NoGradGuard no_grad;
  const std::vector<FlatBuffer>& buffers = flat_.buffers();
  // The transient f32 gradient of each partition (the partition itself for f32 at stage 2), where
  // the update runs: with the masters.
  std::vector<Tensor> grads;
  // Offloaded, the gradient crosses to the CPU in the model dtype (half the bytes of f32 for 16-bit
  // models) and widens there; in a CPU run the crossing is no copy at all.
  const bool offloaded = offload_device_ != "none";
  auto to_update_device = [&](const Tensor& g) { return offloaded ? g.to(Device::cpu()) : g; };
  for (size_t b = 0; b < buffers.size(); ++b) {
    if (!compact_gradients_.empty()) {
      grads.push_back(to_update_device(compact_gradients_[b]).to(DType::f32));
      continue;
    }
    const BufferUnits& units = buffers[b].units;
    Tensor grad = empty({units.partition_numel()},
                        {DType::f32, offloaded ? Device::cpu() : buffers[b].params.device()});
    for (size_t u = 0; u < units.units.size(); ++u) {
      const Unit& unit = units.units[u];
      auto [first, last] = units.slice_range(u, rank_);
      grad.narrow(0, unit.compact_begin, unit.slice)
          .copy_(to_update_device(buffers[b].grads.narrow(0, first, unit.slice)));
    }
    grads.push_back(grad);
  }
  if (offload_device_ == "nvme") {
    // Each entry's chunks stream from disk, and each updated chunk goes into the flat parameters.
    for (size_t i = 0; i < entries_.size(); ++i) {
      const PartitionEntry& e = entries_[i];
      nvme_[i]->step(grads[e.buffer].narrow(0, e.begin, e.end - e.begin),
                     [&](int64_t begin, const Tensor& master) {
                       write_compact(static_cast<size_t>(e.buffer), e.begin + begin, master);
                     });
    }
  } else {
    std::vector<optim::ParamGroup>& groups = optimizer_->param_groups();
    size_t entry = 0;
    for (optim::ParamGroup& group : groups)
      for (const Tensor& p : group.params) {
        const PartitionEntry& e = entries_[entry++];
        p.set_grad(grads[e.buffer].narrow(0, e.begin, e.end - e.begin));
      }
    optimizer_->step();
    for (optim::ParamGroup& group : groups)
      for (const Tensor& p : group.params) p.set_grad(Tensor());
  }
  grads.clear();

  if (!compact_params_.empty()) {   // stage 3: each rank keeps its partition only
    if (offload_device_ != "nvme")  // (with NVMe, write_compact put each chunk there already)
      for (size_t b = 0; b < buffers.size(); ++b) compact_params_[b].copy_(masters_[b]);
    return;
  }
  // The updated slices into the flat parameters, each unit all-gathered in place as soon as its
  // slice is written, with at most allgather_bucket_size elements (or one unit) in flight.
  std::deque<std::pair<std::shared_ptr<dist::Work>, int64_t>> in_flight;
  int64_t in_flight_numel = 0;
  for (size_t b = 0; b < buffers.size(); ++b) {
    const BufferUnits& units = buffers[b].units;
    for (size_t u = 0; u < units.units.size(); ++u) {
      const Unit& unit = units.units[u];
      auto [first, last] = units.slice_range(u, rank_);
      Tensor slice = buffers[b].params.narrow(0, first, unit.slice);
      if (offload_device_ != "nvme")
        slice.copy_(masters_[b].narrow(0, unit.compact_begin, unit.slice));
      if (!group_) continue;
      const int64_t size = unit.slice * units.world;
      while (!in_flight.empty() && in_flight_numel + size > allgather_bucket_size_) {
        in_flight.front().first->wait();
        in_flight_numel -= in_flight.front().second;
        in_flight.pop_front();
      }
      in_flight.emplace_back(
          group_->allgather_async(buffers[b].params.narrow(0, unit.begin, size), slice), size);
      in_flight_numel += size;
    }
  }
  for (auto& [work, size] : in_flight) work->wait();
}

void PartitionedOptimizer::zero_grads() {
  for (const Tensor& g : compact_gradients_) Tensor(g).fill_(0);
  flat_.zero_grads();
}

}  // namespace strata::zero
