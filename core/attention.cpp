// Front end of flash_attention: checks that name the op and the offending shapes, the output
// layout, dispatch to the device kernel (core/cpu/attention_kernels.cpp,
// core/cuda/attention_kernels.cu), and the autograd record.
#include "core/attention.hpp"

#include "core/attention_kernels.hpp"
#include "core/autograd_record.hpp"
#include "core/dispatch.hpp"
#include "core/factories.hpp"

namespace strata {
namespace {

DType stats_dtype(DType input) { return input == DType::f64 ? DType::f64 : DType::f32; }

// q [B, H, T, D], k and v [B, H, S, D]; causal needs S == T.
void check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  STRATA_CHECK(q.defined() && k.defined() && v.defined(), op, ": q, k and v must be defined");
  const DType dtype = common_dtype(op, {&q, &k, &v});
  STRATA_CHECK(is_floating(dtype), op, ": q, k, v have dtype ", dtype_name(dtype),
               "; expected a floating dtype (f32, f64, f16, bf16)");
  STRATA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4 && k.size(0) == q.size(0) &&
                   k.size(1) == q.size(1) && k.size(3) == q.size(3) && v.shape() == k.shape(),
               op, ": expected q [B, H, T, D], k and v [B, H, S, D], got q ", shape_str(q.shape()),
               ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  STRATA_CHECK(q.size(3) > 0, op, ": head dim D is 0 (q ", shape_str(q.shape()), ")");
  STRATA_CHECK(!causal || k.size(2) == q.size(2), op, ": causal attention needs as many keys as ",
               "queries, got q ", shape_str(q.shape()), " and k ", shape_str(k.shape()));
  STRATA_CHECK(k.size(2) > 0 || q.size(2) == 0, op, ": ", q.size(2),
               " queries attend to no keys (k ", shape_str(k.shape()), ")");
}

// The kernels read the head dim with stride 1.
Tensor head_dim_contiguous(const Tensor& t) {
  return t.size(3) == 1 || t.stride(3) == 1 ? t : t.contiguous();
}

// [B, H, T, D] view of [B, T, H, D] memory: the layout attention's callers merge heads from
// (y.transpose(1, 2).reshape({B, T, H * D}) is then free).
Tensor empty_heads(const Shape& shape, TensorOptions options) {
  return empty({shape[0], shape[2], shape[1], shape[3]}, options).transpose(1, 2);
}

}  // namespace

FlashAttentionResult flash_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in,
                                     bool causal, double scale) {
  using Kernel =
      void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double);
  static const KernelTable<Kernel> kernels{"flash_attention",
                                           STRATA_CPU_KERNEL(flash_attention_kernel),
                                           STRATA_CUDA_KERNEL(flash_attention_kernel)};
  check_qkv("flash_attention", q_in, k_in, v_in, causal);
  const Device device = common_device("flash_attention", {&q_in, &k_in, &v_in});
  const bool recording = autograd::should_record(q_in, k_in, v_in);
  autograd::NoGradGuard forward_only;
  Tensor q = head_dim_contiguous(q_in), k = head_dim_contiguous(k_in),
         v = head_dim_contiguous(v_in);
  FlashAttentionResult result;
  result.output = empty_heads(q.shape(), q.options());
  result.logsumexp = empty({q.size(0), q.size(1), q.size(2)}, {stats_dtype(q.dtype()), device});
  if (result.output.numel() > 0) {
    kernels(device)(result.output, result.logsumexp, q, k, v, causal, scale);
  }
  if (recording) {
    autograd::record(
        "flash_attention", {q_in, k_in, v_in}, {&result.output},
        [q = autograd::saved(q), k = autograd::saved(k), v = autograd::saved(v),
         out = autograd::saved(result.output), lse = autograd::saved(result.logsumexp), causal,
         scale](const autograd::Grads& grad, const autograd::NeedsGrad& needs) {
          FlashAttentionGrads g =
              flash_attention_backward(grad[0], q, k, v, out, lse, causal, scale);
          return autograd::Grads{needs[0] ? g.q : Tensor(), needs[1] ? g.k : Tensor(),
                                 needs[2] ? g.v : Tensor()};
        });
  }
  return result;
}

FlashAttentionGrads flash_attention_backward(const Tensor& grad_out_in, const Tensor& q_in,
                                             const Tensor& k_in, const Tensor& v_in,
                                             const Tensor& out_in, const Tensor& logsumexp,
                                             bool causal, double scale) {
  using Kernel = void(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                      const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double);
  static const KernelTable<Kernel> kernels{"flash_attention_backward",
                                           STRATA_CPU_KERNEL(flash_attention_backward_kernel),
                                           STRATA_CUDA_KERNEL(flash_attention_backward_kernel)};
  const char* op = "flash_attention_backward";
  check_qkv(op, q_in, k_in, v_in, causal);
  STRATA_CHECK(grad_out_in.defined() && out_in.defined() && logsumexp.defined(), op,
               ": grad_out, out and logsumexp must be defined");
  STRATA_CHECK(grad_out_in.shape() == q_in.shape() && out_in.shape() == q_in.shape(), op,
               ": grad_out ", shape_str(grad_out_in.shape()), " and out ",
               shape_str(out_in.shape()), " must have q's shape ", shape_str(q_in.shape()));
  STRATA_CHECK(grad_out_in.dtype() == q_in.dtype() && out_in.dtype() == q_in.dtype(), op,
               ": grad_out (", dtype_name(grad_out_in.dtype()), ") and out (",
               dtype_name(out_in.dtype()), ") must have q's dtype ", dtype_name(q_in.dtype()));
  const Shape rows = {q_in.size(0), q_in.size(1), q_in.size(2)};
  const DType stats = stats_dtype(q_in.dtype());
  STRATA_CHECK(logsumexp.shape() == rows && logsumexp.dtype() == stats, op, ": logsumexp is ",
               dtype_name(logsumexp.dtype()), " ", shape_str(logsumexp.shape()), ", expected ",
               dtype_name(stats), " ", shape_str(rows), " (the one flash_attention returned)");
  const Device device = common_device(op, {&grad_out_in, &q_in, &k_in, &v_in, &out_in, &logsumexp});
  Tensor q = head_dim_contiguous(q_in), k = head_dim_contiguous(k_in),
         v = head_dim_contiguous(v_in), out = head_dim_contiguous(out_in),
         grad_out = head_dim_contiguous(grad_out_in), lse = logsumexp.contiguous();
  FlashAttentionGrads g{empty_heads(q.shape(), q.options()), empty_heads(k.shape(), k.options()),
                        empty_heads(v.shape(), v.options())};
  if (q.numel() == 0 || k.numel() == 0) {
    // No query or no key: nothing flows (a key seen by no query gets a zero gradient).
    g.k.fill_(0);
    g.v.fill_(0);
    return g;
  }
  kernels(device)(g.q, g.k, g.v, grad_out, q, k, v, out, lse, causal, scale);
  return g;
}

}  // namespace strata
