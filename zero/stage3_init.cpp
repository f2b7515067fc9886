// Stage3Init: partitioning at construction, and the registry of parameters held as slices until
// the engine takes them over.
#include "zero/stage3_init.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "core/autograd_record.hpp"
#include "core/factories.hpp"

namespace strata::zero {

namespace {

// A parameter held as slices: its released storage identifies it (views of it included).
struct Partitioned {
  Storage storage;
  Shape shape;
  DType dtype;
  Tensor slice;  // [s]: this rank's elements [rank * s, (rank + 1) * s), zero past the end
  std::shared_ptr<dist::ProcessGroup> group;
};

std::mutex registry_mutex;
std::vector<Partitioned>& registry() {
  static std::vector<Partitioned> entries;
  return entries;
}

std::vector<Partitioned>::iterator find_entry(const Tensor& tensor) {
  auto& entries = registry();
  return std::find_if(entries.begin(), entries.end(), [&](const Partitioned& entry) {
    return tensor.storage().is_same(entry.storage);
  });
}

// The whole parameter [numel], gathered from every rank's slice.
Tensor gather_whole(const Partitioned& entry) {
  const int world = entry.group ? entry.group->size() : 1;
  Tensor whole = empty({entry.slice.numel() * world}, entry.slice.options());
  if (entry.group) {
    entry.group->allgather(whole, entry.slice);
  } else {
    whole.copy_(entry.slice);
  }
  return whole.narrow(0, 0, shape_numel(entry.shape));
}

// Keeps this rank's slice of `values` (the whole parameter, flat) in entry.slice.
void keep_slice(Partitioned& entry, const Tensor& values) {
  const int rank = entry.group ? entry.group->rank() : 0;
  const int64_t numel = values.numel(), size = entry.slice.numel();
  const int64_t begin = std::min(numel, rank * size), end = std::min(numel, begin + size);
  entry.slice.fill_(0);
  entry.slice.narrow(0, 0, end - begin).copy_(values.narrow(0, begin, end - begin));
}

void partition(const Tensor& parameter, const std::shared_ptr<dist::ProcessGroup>& group,
               std::optional<DType> dtype) {
  if (find_entry(parameter) != registry().end()) return;
  STRATA_CHECK(parameter.is_contiguous() && parameter.offset() == 0 &&
                   parameter.storage().nbytes() == parameter.nbytes(),
               "Stage3Init: a parameter of shape ", shape_str(parameter.shape()),
               " does not own its storage contiguously; it cannot be partitioned");
  const int world = group ? group->size() : 1;
  const DType target = dtype && is_floating(parameter.dtype()) ? *dtype : parameter.dtype();
  Partitioned entry{.shape = parameter.shape(), .dtype = target, .group = group};
  entry.slice = empty({(parameter.numel() + world - 1) / world}, {target, parameter.device()});
  keep_slice(entry, parameter.flatten().to(target));
  if (target != parameter.dtype())
    parameter.set_data(empty(parameter.shape(), entry.slice.options()));
  entry.storage = parameter.storage();
  entry.storage.release();
  registry().push_back(std::move(entry));
}

}  // namespace

Stage3Init::Stage3Init(std::shared_ptr<dist::ProcessGroup> group, std::optional<DType> dtype)
    : group_(std::move(group)), dtype_(dtype) {}

void Stage3Init::module_constructed(nn::Module& module) {
  autograd::NoGradGuard no_grad;
  std::lock_guard lock(registry_mutex);
  for (const Tensor& parameter : module.parameters()) partition(parameter, group_, dtype_);
}

void Stage3Init::write(const Tensor& tensor, const std::function<void()>& write) {
  autograd::NoGradGuard no_grad;
  std::lock_guard lock(registry_mutex);
  auto entry = find_entry(tensor);
  if (entry == registry().end()) return write();
  Tensor whole = gather_whole(*entry);
  entry->storage.allocate(whole.nbytes());
  Tensor flat(entry->storage, {whole.numel()}, {1}, 0, entry->dtype);
  flat.copy_(whole);
  write();
  keep_slice(*entry, flat);
  entry->storage.release();
}

bool is_stage3_init_partitioned(const Tensor& parameter) {
  std::lock_guard lock(registry_mutex);
  return find_entry(parameter) != registry().end();
}

Tensor stage3_init_materialize(const Tensor& parameter) {
  std::lock_guard lock(registry_mutex);
  auto entry = find_entry(parameter);
  if (entry == registry().end()) return Tensor();
  Tensor whole = gather_whole(*entry).view(entry->shape);
  registry().erase(entry);
  return whole;
}

}  // namespace strata::zero
