// strata_bench_gpu_attention: the flash-attention kernels (core/attention.hpp) on CUDA, forward and
// backward, at GPT-2's attention shapes: time and TFLOP/s per call, one JSON line per measurement.
// q, k, v are [B, H, T, D] views of one [B, T, 3 H D] projection, as CausalSelfAttention makes
// them.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/gpu_bench.hpp"
#include "io/command_line.hpp"
#include "strata.hpp"

namespace {

using namespace strata;
using namespace strata::bench::gpu;

constexpr const char* kDescription =
    R"(Times flash_attention (forward) and flash_attention_backward on q, k, v [B, H, T, D] (views of a
[B, T, 3 H D] projection), causal and not, for each B in --batches. FLOPs follow
FlashAttention-2's count: forward 4 B H T S D (two products), backward 2.5 times that (five
products), halved when causal; the backward here runs seven products (dQ recomputes the weights
for determinism), so its tflops is useful work, not executed work. mfu is tflops over the H100's
989 TFLOP/s dense bf16. Median over --repeats calls after 3 warm-ups, CUDA events.)";

constexpr int kWarmup = 3;

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> batches = {8, 16};
  int64_t heads = 12, seq = 1024, head_dim = 64;
  std::string dtype_text = "bf16";
  int repeats = 20;
  io::CommandLine cli("strata_bench_gpu_attention", kDescription);
  cli.flag("batches", batches, "batch sizes B");
  cli.flag("heads", heads, "heads H");
  cli.flag("seq", seq, "sequence length T (= S)");
  cli.flag("head-dim", head_dim, "head dimension D");
  cli.flag("dtype", dtype_text, "bf16 or f16");
  cli.flag("repeats", repeats, "timed calls per measurement");
  cli.parse(argc, argv);
  repeats = std::max(1, repeats);
  if (dtype_text != "bf16" && dtype_text != "f16") {
    std::fprintf(stderr, "strata_bench_gpu_attention: --dtype expects bf16 or f16, got '%s'\n",
                 dtype_text.c_str());
    return 2;
  }
  const DType dtype = dtype_text == "f16" ? DType::f16 : DType::bf16;
  const Device device = Device::cuda(0);
  if (!cuda_is_available()) {
    std::fprintf(stderr, "strata_bench_gpu_attention: no CUDA device is visible\n");
    return 1;
  }
  print_device(device, "gpu_attention");
  autograd::NoGradGuard no_grad;
  manual_seed(1234);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  int status = 0;
  for (const int64_t batch : batches) {
    for (bool causal : {true, false}) {
      const Shape shape = {batch, heads, seq, head_dim};
      // Useful FLOPs of the forward: S = Q K^T and O = P V, 2 B H T S D each.
      const double forward_flops =
          4.0 * static_cast<double>(batch * heads * seq * seq * head_dim) * (causal ? 0.5 : 1.0);
      for (bool backward : {false, true}) {
        JsonLine line("gpu_attention");
        line.text("op", backward ? "flash_attention_backward" : "flash_attention")
            .text("shape", shape_str(shape))
            .text("dtype", dtype_name(dtype))
            .boolean("causal", causal);
        try {
          const int64_t width = heads * head_dim;
          Tensor qkv = randn({batch, seq, 3 * width}, {dtype, device});
          auto split = [&](int64_t which) {
            return qkv.narrow(2, which * width, width)
                .view({batch, seq, heads, head_dim})
                .transpose(1, 2);
          };
          Tensor q = split(0), k = split(1), v = split(2);
          FlashAttentionResult forward = flash_attention(q, k, v, causal, scale);
          Tensor grad = randn(shape, {dtype, device});
          const double seconds = median_device_seconds(
              device,
              [&] {
                if (backward) {
                  flash_attention_backward(grad, q, k, v, forward.output, forward.logsumexp, causal,
                                           scale);
                } else {
                  flash_attention(q, k, v, causal, scale);
                }
              },
              kWarmup, repeats);
          const double flops = forward_flops * (backward ? 2.5 : 1.0);
          line.text("status", "ok")
              .number("seconds", seconds)
              .number("flops", flops)
              .number("tflops", flops / seconds * 1e-12)
              .number("mfu", flops / seconds / kH100BF16PeakFlops)
              .print();
        } catch (const Error& e) {
          const Failure failure = classify(e.what());
          line.text("status", failure_status(failure)).text("error", e.what()).print();
          if (failure == Failure::error) status = 1;
        }
      }
    }
  }
  return status;
}
