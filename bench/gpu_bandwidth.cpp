// strata_bench_gpu_bandwidth: the memory-bound kernels of a training step as effective bandwidth
// (the least bytes each call must move, over its time) and as a fraction of the device-to-device
// copy bandwidth measured first in the same run (goal >= 0.75).
//
// An op with no CUDA kernel on this build prints one "unavailable" line instead of a number (other
// branches add the kernels), so the bench runs whatever the branch holds.
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/gpu_bench.hpp"
#include "core/cuda/cuda_check.hpp"
#include "io/command_line.hpp"
#include "strata.hpp"

namespace {

using namespace strata;
using namespace strata::bench::gpu;

constexpr const char* kDescription =
    R"(First the device-to-device copy (cudaMemcpyAsync of 2 N bytes; it moves 4 N bytes, read plus
written), then Strata's memory-bound ops on bf16 tensors of N elements (rows of 768 for the
normalisations, of 1024 for softmax; the classifier on 8192 x 50304 logits, a GPT-2 step of
B * T = 8192 tokens), each reported as gbps = the least bytes it must move (each input read once,
each output written once; listed in the line's bytes_formula) over its median time (CUDA events,
--repeats calls after 3 warm-ups), and fraction_of_copy = gbps over the copy's GB/s.
Ops: copy_ (bf16), add, cast bf16->f32 and f32->bf16, gelu (tanh) forward and backward,
layer_norm forward and backward, softmax forward and backward, cross_entropy forward and
backward, and the AdamW step on one bf16 parameter of N elements with its f32 master copy.
An op with no CUDA kernel in this build prints status "unavailable".)";

constexpr int kWarmup = 3;

struct MemoryBoundOp {
  std::string name, shape;
  std::string bytes_formula;  // the bytes counted, in words
  double bytes;               // the least one call must move
  // Makes the inputs (inside the measurement's try: it may call ops with no kernel) and returns
  // the call to time.
  std::function<std::function<void()>()> setup;
};

TensorOptions on_gpu(DType dtype) { return TensorOptions(dtype, Device::cuda(0)); }

std::vector<MemoryBoundOp> memory_bound_ops(int64_t n) {
  const double N = static_cast<double>(n);
  const int64_t C = 768, ln_rows = n / C;   // layer norm [ln_rows, C]
  const int64_t S = 1024, sm_rows = n / S;  // softmax [sm_rows, S]
  const int64_t ce_rows = 8192, V = 50304;  // classifier logits [ce_rows, V]
  const double LN = static_cast<double>(ln_rows * C), SM = static_cast<double>(sm_rows * S);
  const double R = static_cast<double>(ln_rows), NV = static_cast<double>(ce_rows * V);
  const double CE = static_cast<double>(ce_rows);
  const std::string flat = "[" + std::to_string(n) + "]";
  const std::string ln_shape = shape_str({ln_rows, C}), sm_shape = shape_str({sm_rows, S});
  const std::string ce_shape = shape_str({ce_rows, V});
  auto bf16 = [](const Shape& shape) { return randn(shape, on_gpu(DType::bf16)); };
  std::vector<MemoryBoundOp> ops;
  ops.push_back({"copy_", flat, "read 2n + write 2n", 4 * N, [=] {
                   Tensor src = bf16({n}), dst = empty({n}, on_gpu(DType::bf16));
                   return std::function<void()>([=]() mutable { dst.copy_(src); });
                 }});
  ops.push_back({"add", flat, "read 2 x 2n + write 2n", 6 * N, [=] {
                   Tensor a = bf16({n}), b = bf16({n});
                   return std::function<void()>([=] { add(a, b); });
                 }});
  ops.push_back({"cast_bf16_to_f32", flat, "read 2n + write 4n", 6 * N, [=] {
                   Tensor x = bf16({n});
                   return std::function<void()>([=] { x.to(DType::f32); });
                 }});
  ops.push_back({"cast_f32_to_bf16", flat, "read 4n + write 2n", 6 * N, [=] {
                   Tensor x = randn({n}, on_gpu(DType::f32));
                   return std::function<void()>([=] { x.to(DType::bf16); });
                 }});
  ops.push_back({"gelu_forward", flat, "read 2n + write 2n", 4 * N, [=] {
                   Tensor x = bf16({n});
                   return std::function<void()>([=] { gelu(x, GeluApproximation::tanh); });
                 }});
  ops.push_back({"gelu_backward", flat, "read grad 2n + x 2n + write 2n", 6 * N, [=] {
                   Tensor x = bf16({n}), grad = bf16({n});
                   Tensor y = gelu(x, GeluApproximation::tanh);
                   return std::function<void()>(
                       [=] { unary_backward(UnaryOp::gelu_tanh, grad, x, y); });
                 }});
  ops.push_back({"layer_norm_forward", ln_shape,
                 "read x 2RC + weight, bias 4C + write y 2RC + mean, rstd 8R",
                 4 * LN + 4 * C + 8 * R, [=] {
                   Tensor x = bf16({ln_rows, C}), w = bf16({C}), b = bf16({C});
                   return std::function<void()>([=] { layer_norm(x, w, b); });
                 }});
  ops.push_back({"layer_norm_backward", ln_shape,
                 "read grad, x 4RC + mean, rstd 8R + weight 2C + write dx 2RC + dweight, dbias 4C",
                 6 * LN + 8 * R + 6 * C, [=] {
                   Tensor x = bf16({ln_rows, C}), w = bf16({C}), b = bf16({C});
                   Tensor grad = bf16({ln_rows, C});
                   LayerNormResult f = layer_norm(x, w, b);
                   return std::function<void()>(
                       [=] { layer_norm_backward(grad, x, f.mean, f.rstd, w, true); });
                 }});
  ops.push_back({"softmax_forward", sm_shape, "read 2n + write 2n", 4 * SM, [=] {
                   Tensor x = bf16({sm_rows, S});
                   return std::function<void()>([=] { softmax(x, -1); });
                 }});
  ops.push_back({"softmax_backward", sm_shape, "read grad, y 4n + write 2n", 6 * SM, [=] {
                   Tensor x = bf16({sm_rows, S}), grad = bf16({sm_rows, S});
                   Tensor y = softmax(x, -1);
                   return std::function<void()>([=] { softmax_backward(grad, y, -1); });
                 }});
  ops.push_back({"cross_entropy_forward", ce_shape,
                 "read logits 2NV + targets 8N + write log_sum_exp 4N", 2 * NV + 12 * CE, [=] {
                   Tensor logits = bf16({ce_rows, V});
                   Tensor targets = randint(0, 50257, {ce_rows}, on_gpu(DType::i64));
                   return std::function<void()>([=] { cross_entropy(logits, targets); });
                 }});
  ops.push_back({"cross_entropy_backward", ce_shape,
                 "read logits 2NV + targets 8N + log_sum_exp 4N + write dlogits 2NV",
                 4 * NV + 12 * CE, [=] {
                   Tensor logits = bf16({ce_rows, V});
                   Tensor targets = randint(0, 50257, {ce_rows}, on_gpu(DType::i64));
                   CrossEntropyResult f = cross_entropy(logits, targets);
                   Tensor grad_loss = ones({}, on_gpu(DType::f32));
                   return std::function<void()>(
                       [=] { cross_entropy_backward(grad_loss, logits, targets, f.log_sum_exp); });
                 }});
  ops.push_back({"adamw_step", flat,
                 "read grad 2n + master, m, v 12n + write master, m, v 12n + param 2n", 28 * N,
                 [=] {
                   Tensor param = bf16({n});
                   param.requires_grad_();
                   param.set_grad(bf16({n}));
                   auto optimizer = std::make_shared<optim::AdamW>(
                       std::vector<Tensor>{param},
                       optim::AdamWOptions{.lr = 1e-4, .betas = {0.9, 0.95}, .weight_decay = 0.1});
                   return std::function<void()>([=] { optimizer->step(); });
                 }});
  return ops;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = int64_t{1} << 28;  // 512 MiB in bf16
  int repeats = 20;
  io::CommandLine cli("strata_bench_gpu_bandwidth", kDescription);
  cli.flag("elements", n, "elements per tensor (2^28: 512 MiB in bf16)");
  cli.flag("repeats", repeats, "timed calls per op");
  cli.parse(argc, argv);
  repeats = std::max(1, repeats);
  const Device device = Device::cuda(0);
  double copy_gbps = 0;
  try {
    STRATA_CHECK(cuda_is_available(), "no CUDA device is visible");
    STRATA_CHECK(n >= 1024, "--elements must be at least 1024, got ", n);
    print_device(device, "gpu_bandwidth");
    // The ceiling: the runtime's device-to-device copy, 2n bytes each way.
    Tensor src = randn({n}, on_gpu(DType::bf16)), dst = empty({n}, on_gpu(DType::bf16));
    const size_t copy_bytes = src.nbytes();
    const double seconds = median_device_seconds(
        device,
        [&] {
          STRATA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), copy_bytes,
                                            cudaMemcpyDeviceToDevice, cuda::current_stream()));
        },
        kWarmup, repeats);
    copy_gbps = 2.0 * static_cast<double>(copy_bytes) / seconds * 1e-9;
    JsonLine("gpu_bandwidth")
        .text("status", "ok")
        .text("op", "cudaMemcpyAsync_d2d")
        .text("shape", "[" + std::to_string(n) + "]")
        .text("dtype", "bf16")
        .text("bytes_formula", "read 2n + write 2n")
        .number("bytes", 2.0 * static_cast<double>(copy_bytes))
        .number("seconds", seconds)
        .number("gbps", copy_gbps)
        .number("fraction_of_copy", 1.0)
        .print();
  } catch (const Error& e) {
    std::fprintf(stderr, "strata_bench_gpu_bandwidth: %s\n", e.what());
    return 1;
  }

  int status = 0;
  autograd::NoGradGuard no_grad;
  manual_seed(1234);
  for (const MemoryBoundOp& op : memory_bound_ops(n)) {
    JsonLine line("gpu_bandwidth");
    line.text("op", op.name).text("shape", op.shape).text("dtype", "bf16");
    try {
      const std::function<void()> call = op.setup();
      const double seconds = median_device_seconds(device, call, kWarmup, repeats);
      const double gbps = op.bytes / seconds * 1e-9;
      line.text("status", "ok")
          .text("bytes_formula", op.bytes_formula)
          .number("bytes", op.bytes)
          .number("seconds", seconds)
          .number("gbps", gbps)
          .number("fraction_of_copy", gbps / copy_gbps)
          .print();
    } catch (const Error& e) {
      const Failure failure = classify(e.what());
      line.text("status", failure_status(failure)).text("error", e.what()).print();
      if (failure == Failure::error) status = 1;
    }
  }
  return status;
}
