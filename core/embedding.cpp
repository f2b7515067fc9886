// embedding and embedding_backward: shape and id checks, then the device kernel.
#include "core/dispatch.hpp"
#include "core/embedding_kernels.hpp"
#include "core/factories.hpp"
#include "core/nn_ops.hpp"

namespace strata {
namespace {

using EmbeddingKernel = void(const Tensor&, const Tensor&, const Tensor&);

// ids as a contiguous host-readable tensor, after checking the dtype and that every id lies in
// [0, rows). The ids live on the CPU (the only device with embedding kernels so far).
Tensor checked_ids(const char* op, const Tensor& ids, int64_t rows) {
  STRATA_CHECK(ids.dtype() == DType::i32 || ids.dtype() == DType::i64, op,
               ": ids must be i32 or i64, got ", dtype_name(ids.dtype()));
  Tensor flat = ids.contiguous();
  auto check = [&](const auto* id) {
    for (int64_t i = 0; i < flat.numel(); ++i) {
      STRATA_CHECK(id[i] >= 0 && id[i] < rows, op, ": id ", id[i], " (flat position ", i,
                   " of ids shape ", shape_str(ids.shape()),
                   ") is out of range for a vocabulary of ", rows, " rows (expected 0 <= id < ",
                   rows, ")");
    }
  };
  if (flat.dtype() == DType::i32) {
    check(flat.data<int32_t>());
  } else {
    check(flat.data<int64_t>());
  }
  return flat;
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  static const KernelTable<EmbeddingKernel> kernels{"embedding",
                                                    STRATA_CPU_KERNEL(embedding_kernel), nullptr};
  STRATA_CHECK(weight.dim() == 2, "embedding: weight must be 2-D [num_embeddings, dim], got shape ",
               shape_str(weight.shape()));
  EmbeddingKernel* kernel = kernels(common_device("embedding", {&weight, &ids}));
  Tensor flat_ids = checked_ids("embedding", ids, weight.size(0));
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  Tensor out = empty(out_shape, weight.options());
  if (out.numel()) kernel(out, weight, flat_ids);
  return out;
}

Tensor embedding_backward(const Tensor& grad, const Tensor& ids, int64_t num_embeddings) {
  static const KernelTable<EmbeddingKernel> kernels{
      "embedding_backward", STRATA_CPU_KERNEL(embedding_backward_kernel), nullptr};
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
  EmbeddingKernel* kernel = kernels(common_device("embedding_backward", {&grad, &ids}));
  Tensor flat_ids = checked_ids("embedding_backward", ids, num_embeddings);
  int64_t dim = grad.size(-1);
  Tensor out = empty({num_embeddings, dim}, grad.options());
  if (out.numel()) kernel(out, grad.contiguous(), flat_ids);
  return out;
}

}  // namespace strata
