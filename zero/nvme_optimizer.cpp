// NvmeOptimizer: the files (one for the master values, one per state), the chunk slots, and the
// step's read-ahead / update / write-behind loop.
#include "zero/nvme_optimizer.hpp"

#include <algorithm>
#include <string_view>

#include "core/error.hpp"
#include "core/factories.hpp"

namespace strata::zero {
namespace {

// Chunks are whole multiples of 4 KiB, so that every chunk's transfer can be direct.
constexpr int64_t kChunkAlignment = 1024;
const std::string kMaster = "master";

std::string state_file(const std::string& name) { return "state." + name; }

std::filesystem::path nvme_path(const io::OffloadOptimizerConfig& offload) {
  STRATA_CHECK(offload.nvme_path.has_value() && !offload.nvme_path->empty(),
               "NVMe offload: offload_optimizer.device is \"nvme\" but "
               "offload_optimizer.nvme_path is not set");
  return *offload.nvme_path;
}

// Waits for every ticket and empties the list.
void wait_all(NvmeSwapper& swapper, std::vector<int64_t>& tickets) {
  for (int64_t ticket : tickets) swapper.wait(ticket);
  tickets.clear();
}

}  // namespace

NvmeOptimizer::NvmeOptimizer(const optim::Optimizer& optimizer, int64_t group, const Tensor& master,
                             int64_t sub_group_size, const io::OffloadOptimizerConfig& offload,
                             const io::AioConfig& aio, const std::string& tag)
    : optimizer_(optimizer),
      group_(group),
      numel_(master.numel()),
      offload_(offload),
      swapper_(nvme_path(offload), aio, tag) {
  STRATA_CHECK(master.dtype() == DType::f32 && master.device().is_cpu() && master.is_contiguous() &&
                   master.dim() == 1,
               "NvmeOptimizer: the master partition must be a contiguous 1-D f32 CPU tensor, got ",
               dtype_name(master.dtype()), " ", shape_str(master.shape()), " on ",
               master.device().str());
  STRATA_CHECK(sub_group_size > 0, "NvmeOptimizer: sub_group_size must be > 0, got ",
               sub_group_size);
  STRATA_CHECK(std::string_view(optimizer.name()) != "LAMB",
               "NVMe offload: LAMB's trust ratio needs whole parameters, which the chunked step "
               "(sub_group_size) does not see; use Adam, AdamW, SGD or Adagrad");
  chunk_ = (std::min(std::max<int64_t>(numel_, 1), sub_group_size) + kChunkAlignment - 1) /
           kChunkAlignment * kChunkAlignment;
  swapper_.create(kMaster, numel_);
  std::vector<int64_t> tickets;
  for (int64_t begin = 0; begin < numel_; begin += chunk_)
    tickets.push_back(
        swapper_.write(kMaster, master.narrow(0, begin, std::min(chunk_, numel_ - begin)), begin));
  wait_all(swapper_, tickets);
  ensure_state_files();
}

std::vector<optim::StateSpec> NvmeOptimizer::ensure_state_files() {
  std::vector<optim::StateSpec> specs = optimizer_.group_state_specs(group_);
  for (const optim::StateSpec& spec : specs) {
    const std::string name = state_file(spec.name);
    if (swapper_.contains(name)) continue;
    swapper_.create(name, numel_);
    const Tensor initial = full({std::min(chunk_, numel_)}, spec.initial_value);
    std::vector<int64_t> tickets;
    for (int64_t begin = 0; begin < numel_; begin += chunk_)
      tickets.push_back(
          swapper_.write(name, initial.narrow(0, 0, std::min(chunk_, numel_ - begin)), begin));
    wait_all(swapper_, tickets);
  }
  return specs;
}

void NvmeOptimizer::step(const Tensor& grad,
                         const std::function<void(int64_t begin, const Tensor& master)>& updated) {
  STRATA_CHECK(grad.numel() == numel_ && grad.device().is_cpu() && grad.is_contiguous() &&
                   is_floating(grad.dtype()),
               "NvmeOptimizer::step: the gradient must be a contiguous CPU tensor of ", numel_,
               " floating elements, got ", dtype_name(grad.dtype()), " ", shape_str(grad.shape()),
               " on ", grad.device().str());
  const std::vector<optim::StateSpec> specs = ensure_state_files();
  std::vector<std::string> files = {kMaster};
  for (const optim::StateSpec& spec : specs) files.push_back(state_file(spec.name));

  // The slots this step's state count and buffer_count allow.
  const int64_t per_slot = static_cast<int64_t>(files.size());
  const int64_t wanted = 1 + offload_.pipeline_read + offload_.pipeline_write;
  const int64_t slots = std::max<int64_t>(1, std::min(wanted, offload_.buffer_count / per_slot));
  // slot[s][0] holds a chunk's master values, slot[s][1 + k] its state k.
  std::vector<std::vector<Tensor>> slot(slots);
  for (auto& buffers : slot)
    for (int64_t b = 0; b < per_slot; ++b) buffers.push_back(empty({std::min(chunk_, numel_)}));
  buffer_bytes_ = slots * per_slot * std::min(chunk_, numel_) * 4;

  const int64_t chunks = (numel_ + chunk_ - 1) / chunk_;
  const int64_t lookahead = offload_.pipeline_read && slots > 1 ? 1 : 0;
  std::vector<std::vector<int64_t>> reads(slots), writes(slots);
  auto length = [&](int64_t k) { return std::min(chunk_, numel_ - k * chunk_); };
  auto issue_read = [&](int64_t k) {
    const int64_t s = k % slots;
    wait_all(swapper_, writes[s]);  // the slot's previous chunk is on disk: the buffers are free
    for (int64_t b = 0; b < per_slot; ++b)
      reads[s].push_back(swapper_.read(files[b], slot[s][b].narrow(0, 0, length(k)), k * chunk_));
  };
  int64_t issued = 0;
  for (int64_t k = 0; k < chunks; ++k) {
    while (issued < chunks && issued <= k + lookahead) issue_read(issued++);
    const int64_t s = k % slots, begin = k * chunk_, n = length(k);
    wait_all(swapper_, reads[s]);
    optim::UpdateRange range;
    range.param = slot[s][0].narrow(0, 0, n);
    const Tensor g = grad.narrow(0, begin, n);
    range.grad = g.dtype() == DType::f32 ? g : g.to(DType::f32);
    for (int64_t b = 1; b < per_slot; ++b) range.states.push_back(slot[s][b].narrow(0, 0, n));
    range.segments = {0, n};
    range.step = steps_ + 1;
    optimizer_.update_range(group_, range);
    updated(begin, range.param);
    for (int64_t b = 0; b < per_slot; ++b)
      writes[s].push_back(swapper_.write(files[b], slot[s][b].narrow(0, 0, n), begin));
    if (!offload_.pipeline_write) wait_all(swapper_, writes[s]);
  }
  for (auto& pending : writes) wait_all(swapper_, pending);
  ++steps_;
}

Tensor NvmeOptimizer::read_whole(const std::string& name) const {
  Tensor out = empty({numel_});
  swapper_.wait(swapper_.read(name, out));
  return out;
}

Tensor NvmeOptimizer::master() const { return read_whole(kMaster); }

Tensor NvmeOptimizer::state(const std::string& name) const {
  STRATA_CHECK(
      swapper_.contains(state_file(name)), "NvmeOptimizer::state: no state '", name,
      "' (the optimizer's states: ",
      [&] {
        std::string names;
        for (const optim::StateSpec& spec : optimizer_.group_state_specs(group_))
          names += (names.empty() ? "" : ", ") + spec.name;
        return names;
      }(),
      ")");
  return read_whole(state_file(name));
}

void NvmeOptimizer::load(const Tensor& master, const std::map<std::string, Tensor>& states,
                         int64_t steps) {
  auto write_whole = [&](const std::string& file, const Tensor& values) {
    STRATA_CHECK(values.numel() == numel_, "NvmeOptimizer::load: \"", file, "\" has ",
                 values.numel(), " elements, the partition ", numel_);
    if (!swapper_.contains(file)) swapper_.create(file, numel_);
    swapper_.wait(swapper_.write(file, values.to(DType::f32).contiguous().reshape({numel_})));
  };
  write_whole(kMaster, master);
  for (const auto& [name, values] : states) write_whole(state_file(name), values);
  for (const optim::StateSpec& spec : optimizer_.group_state_specs(group_))
    if (!states.count(spec.name))
      write_whole(state_file(spec.name), full({numel_}, spec.initial_value));
  steps_ = steps;
}

}  // namespace strata::zero
