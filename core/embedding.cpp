// embedding and embedding_backward: shape checks, then the device's kernels. On the CPU the ids are
// checked here and the backward groups positions by id here (a counting sort); on CUDA both happen
// on the device (an id out of range is raised at the next synchronisation), so no step waits for
// the GPU. Either way each output row's gradients are summed in ascending position order.
#include <vector>

#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/embedding_kernels.hpp"
#include "core/factories.hpp"
#include "core/indexing_kernels.hpp"
#include "core/nn_ops.hpp"

namespace strata {
namespace {

void check_id_dtype(const char* op, const Tensor& ids) {
  STRATA_CHECK(ids.dtype() == DType::i32 || ids.dtype() == DType::i64, op,
               ": ids must be i32 or i64, got ", dtype_name(ids.dtype()));
}

// The ids as a flat i64 host vector, after checking the dtype and that every id lies in [0, rows).
std::vector<int64_t> checked_ids(const char* op, const Tensor& ids, int64_t rows) {
  check_id_dtype(op, ids);
  std::vector<int64_t> id = ids.to_vector<int64_t>();
  for (size_t i = 0; i < id.size(); ++i) {
    STRATA_CHECK(id[i] >= 0 && id[i] < rows, op, ": id ", id[i], " (flat position ", i,
                 " of ids shape ", shape_str(ids.shape()), ") is out of range for a vocabulary of ",
                 rows, " rows (expected 0 <= id < ", rows, ")");
  }
  return id;
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Tensor&)> kernels{
      "embedding", STRATA_CPU_KERNEL(embedding_kernel), STRATA_CUDA_KERNEL(embedding_kernel)};
  STRATA_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, dim], got shape ",
               shape_str(weight.shape()));
  Device device = common_device("embedding", {&weight, &ids});
  auto kernel = kernels(device);
  if (device.is_cpu()) {
    checked_ids("embedding", ids, weight.size(0));
  } else {
    check_id_dtype("embedding", ids);
  }
  const bool recording = autograd::should_record(weight);
  autograd::NoGradGuard forward_only;
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  Tensor out = empty(out_shape, weight.options());
  if (out.numel()) kernel(out, weight, ids.contiguous());
  if (recording) {
    autograd::record(
        "embedding", {weight, ids}, {&out},
        [ids = autograd::saved(ids), rows = weight.size(0)](const autograd::Grads& grad, auto&) {
          return autograd::Grads{embedding_backward(grad[0], ids, rows), Tensor()};
        });
  }
  return out;
}

Tensor embedding_backward(const Tensor& grad, const Tensor& ids, int64_t num_embeddings) {
  static const KernelTable<void(const Tensor&, const Tensor&, const Tensor&, const Tensor&)>
      kernels{"embedding_backward", STRATA_CPU_KERNEL(embedding_backward_kernel), nullptr};
  static const KernelTable<void(const char*, const char*, const Tensor&, const Tensor&,
                                const Tensor&)>
      grouped{"embedding_backward", nullptr, STRATA_CUDA_KERNEL(index_add_grouped_kernel)};
  STRATA_CHECK(num_embeddings >= 0, "embedding_backward: num_embeddings must be non-negative, got ",
               num_embeddings);
  STRATA_CHECK(is_floating(grad.dtype()), "embedding_backward: grad dtype ",
               dtype_name(grad.dtype()),
               " is not supported; expected a floating dtype (f32, f64, f16, bf16)");
  Shape expected = ids.shape();
  expected.push_back(grad.dim() > 0 ? grad.size(-1) : 0);
  STRATA_CHECK(grad.dim() >= 1 && grad.shape() == expected, "embedding_backward: grad has shape ",
               shape_str(grad.shape()), " but ids have shape ", shape_str(ids.shape()),
               "; expected the ids' shape followed by the embedding dim");
  Device device = common_device("embedding_backward", {&grad, &ids});
  const int64_t dim = grad.size(-1);
  if (!device.is_cpu()) {
    check_id_dtype("embedding_backward", ids);
    Tensor out = empty({num_embeddings, dim}, grad.options());
    grouped(device)("embedding_backward", "id", out.view({1, num_embeddings, dim}),
                    grad.contiguous().view({1, ids.numel(), dim}), ids.reshape({-1}));
    return out;
  }
  auto kernel = kernels(device);
  std::vector<int64_t> id = checked_ids("embedding_backward", ids, num_embeddings);
  // positions[row_start[v] .. row_start[v + 1]) are the positions whose id is v, ascending.
  std::vector<int64_t> row_start(static_cast<size_t>(num_embeddings) + 1, 0);
  std::vector<int64_t> positions(id.size());
  for (int64_t v : id) ++row_start[v + 1];
  for (int64_t v = 0; v < num_embeddings; ++v) row_start[v + 1] += row_start[v];
  std::vector<int64_t> cursor(row_start.begin(), row_start.end() - 1);
  for (size_t i = 0; i < id.size(); ++i) positions[cursor[id[i]]++] = static_cast<int64_t>(i);

  Tensor out = empty({num_embeddings, dim}, grad.options());
  if (out.numel()) {
    kernel(out, grad.contiguous(), from_vector(row_start).to(device),
           from_vector(positions).to(device));
  }
  return out;
}

}  // namespace strata
