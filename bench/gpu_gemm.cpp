// strata_bench_gpu_gemm: the transformer GEMMs of a GPT-2 124M training step in bf16, through
// Strata's linear/matmul and through a standalone cuBLASLt call on the same operands in the same
// run, to show how much of cuBLASLt's speed Strata keeps (goal >= 0.95).
//
// The standalone call is the best of the heuristic's top algorithms, each timed: what a hand-tuned
// program (llm.c) gets at best from cuBLASLt with the same 32 MiB workspace. Its output is also
// the reference Strata's output is checked against.
#include <cublasLt.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/gpu_bench.hpp"
#include "core/cuda/cuda_check.hpp"
#include "io/command_line.hpp"
#include "strata.hpp"

#define BENCH_CUBLAS_CHECK(call)                                  \
  do {                                                            \
    cublasStatus_t bench_cublas_status = (call);                  \
    if (bench_cublas_status != CUBLAS_STATUS_SUCCESS) {           \
      ::strata::fail("cuBLASLt error in ", #call, ": ",           \
                     cublasLtGetStatusName(bench_cublas_status)); \
    }                                                             \
  } while (0)

namespace {

using namespace strata;
using namespace strata::bench::gpu;

constexpr const char* kDescription =
    R"(The GEMMs of a GPT-2 124M training step (width 768, vocab 50304) in bf16 with f32 accumulation,
at R = B * T tokens per step, for each Linear (qkv c_attn 768 -> 2304, attn.c_proj 768 -> 768,
c_fc 768 -> 3072, mlp.c_proj 3072 -> 768, lm_head 768 -> 50304):
  forward      y [R, out] = x [R, in] @ W^T (W [out, in] read transposed in place) + bias
  grad_input   dx [R, in] = dy [R, out] @ W
  grad_weight  dW [out, in] = dy^T (transposed view) @ x
each timed (CUDA events, median of --repeats calls after 3 warm-ups) through Strata's linear /
matmul and through cublasLtMatmul on the same operands with the bias epilogue where the forward
has a bias: every algorithm of the heuristic's top --candidates is timed and the fastest kept
(cublaslt_best); cublaslt_first is the first candidate that ran (the heuristic's
choice). TFLOP/s count 2 M N K.
ratio = Strata's TFLOP/s over cublaslt_best's (goal >= 0.95); rel_diff = ||strata - lt|| / ||lt||
over the outputs. A gpu_gemm_step line per token count sums the products as one step runs them
(the four block Linears 12 times, lm_head once).)";

constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // Strata's cuBLASLt workspace
constexpr int kWarmup = 3;

// One operand as cuBLASLt sees it (core/cuda/gemm.cu explains the transposition): a row-major
// [R, C] matrix is column-major [C, R] read with op N; a column-major one is stored [R, C] and
// read with op T.
struct Operand {
  cublasOperation_t op;
  uint64_t rows, cols;
  int64_t ld;
};

Operand describe(const Tensor& x) {
  if (x.stride(1) == 1)
    return {CUBLAS_OP_N, static_cast<uint64_t>(x.size(1)), static_cast<uint64_t>(x.size(0)),
            x.stride(0)};
  return {CUBLAS_OP_T, static_cast<uint64_t>(x.size(0)), static_cast<uint64_t>(x.size(1)),
          x.stride(1)};
}

// c [M, N] (contiguous) = a [M, K] @ b [K, N] (+ bias [N]) in bf16 through cublasLtMatmul, the
// row-major product computed as the column-major c^T = b^T a^T.
class LtGemm {
 public:
  LtGemm(const Tensor& a, const Tensor& b, const Tensor& c, const Tensor& bias,
         const Tensor& workspace)
      : a_(a), b_(b), c_(c), bias_(bias), workspace_(workspace) {
    BENCH_CUBLAS_CHECK(cublasLtCreate(&handle_));
    const Operand lt_a = describe(b), lt_b = describe(a);
    BENCH_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    BENCH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &lt_a.op,
                                                      sizeof(lt_a.op)));
    BENCH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &lt_b.op,
                                                      sizeof(lt_b.op)));
    if (bias.defined()) {
      cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
      const void* bias_ptr = bias.data_ptr();
      BENCH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                        &epilogue, sizeof(epilogue)));
      BENCH_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                        &bias_ptr, sizeof(bias_ptr)));
    }
    BENCH_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&a_layout_, CUDA_R_16BF, lt_a.rows, lt_a.cols, lt_a.ld));
    BENCH_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&b_layout_, CUDA_R_16BF, lt_b.rows, lt_b.cols, lt_b.ld));
    // D = c^T: column-major [N, M], leading dim N.
    BENCH_CUBLAS_CHECK(
        cublasLtMatrixLayoutCreate(&c_layout_, CUDA_R_16BF, c.size(1), c.size(0), c.size(1)));
  }
  ~LtGemm() {
    cublasLtMatrixLayoutDestroy(c_layout_);
    cublasLtMatrixLayoutDestroy(b_layout_);
    cublasLtMatrixLayoutDestroy(a_layout_);
    cublasLtMatmulDescDestroy(op_);
    cublasLtDestroy(handle_);
  }
  LtGemm(const LtGemm&) = delete;
  LtGemm& operator=(const LtGemm&) = delete;

  // The heuristic's top `count` algorithms for this problem that it reports as runnable.
  std::vector<cublasLtMatmulAlgo_t> algorithms(int count) const {
    cublasLtMatmulPreference_t preference;
    BENCH_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference));
    const uint64_t workspace_bytes = kWorkspaceBytes;
    BENCH_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace_bytes, sizeof(workspace_bytes)));
    std::vector<cublasLtMatmulHeuristicResult_t> results(count);
    int returned = 0;
    const cublasStatus_t status =
        cublasLtMatmulAlgoGetHeuristic(handle_, op_, a_layout_, b_layout_, c_layout_, c_layout_,
                                       preference, count, results.data(), &returned);
    cublasLtMatmulPreferenceDestroy(preference);
    BENCH_CUBLAS_CHECK(status);
    std::vector<cublasLtMatmulAlgo_t> algos;
    for (int i = 0; i < returned; ++i)
      if (results[i].state == CUBLAS_STATUS_SUCCESS) algos.push_back(results[i].algo);
    STRATA_CHECK(!algos.empty(), "cuBLASLt's heuristic found no algorithm for ",
                 shape_str(a_.shape()), " x ", shape_str(b_.shape()));
    return algos;
  }

  void run(const cublasLtMatmulAlgo_t& algo) const {
    const float alpha = 1.0f, beta = 0.0f;
    // cuBLASLt's A is our b and its B our a.
    BENCH_CUBLAS_CHECK(cublasLtMatmul(handle_, op_, &alpha, b_.data_ptr(), a_layout_, a_.data_ptr(),
                                      b_layout_, &beta, c_.data_ptr(), c_layout_, c_.data_ptr(),
                                      c_layout_, &algo, workspace_.data_ptr(), kWorkspaceBytes,
                                      cuda::current_stream()));
  }

 private:
  Tensor a_, b_, c_, bias_, workspace_;
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_layout_ = nullptr, b_layout_ = nullptr, c_layout_ = nullptr;
};

struct Product {
  std::string linear, pass;
  Tensor a, b, bias;  // c = a @ b (+ bias)
  std::function<Tensor()> strata;
  int64_t per_step;  // times a training step runs it
};

// "[8192, 768]n x [768, 2304]t": shapes, each followed by its layout (n row-major, t transposed).
std::string operands(const Tensor& a, const Tensor& b) {
  auto describe_layout = [](const Tensor& x) {
    return shape_str(x.shape()) + (x.stride(-1) == 1 ? "n" : "t");
  };
  return describe_layout(a) + " x " + describe_layout(b);
}

Tensor random_bf16(const Shape& shape) {
  return randn(shape, TensorOptions(DType::bf16, Device::cuda(0)));
}

// A Linear in -> out as nn::Linear runs it (core/linalg.cpp): y = x W^T + b, dx = dy W,
// dW = dy^T x.
void add_linear(std::vector<Product>& products, const char* name, int64_t R, int64_t in,
                int64_t out, bool has_bias, int64_t per_step) {
  Tensor x = random_bf16({R, in}), w = random_bf16({out, in}), dy = random_bf16({R, out});
  Tensor bias = has_bias ? random_bf16({out}) : Tensor();
  products.push_back(
      {name, "forward", x, w.t(), bias, [=] { return linear(x, w, bias); }, per_step});
  products.push_back(
      {name, "grad_input", dy, w, Tensor(), [=] { return matmul(dy, w); }, per_step});
  products.push_back(
      {name, "grad_weight", dy.t(), x, Tensor(), [=] { return matmul(dy.t(), x); }, per_step});
}

double tflops(double flops, double seconds) { return flops / seconds * 1e-12; }

// ||x - ref|| / ||ref|| in f32.
double relative_difference(const Tensor& x, const Tensor& ref) {
  Tensor d = x.to(DType::f32) - ref.to(DType::f32);
  Tensor r = ref.to(DType::f32);
  return std::sqrt(sum(d * d).item<double>() / sum(r * r).item<double>());
}

struct StepTotals {
  double strata_seconds = 0, best_seconds = 0, flops = 0;
  int64_t measured = 0;  // products in the sums
};

// Measures one product and prints its line; adds it to the step's totals.
void measure(const Product& p, int64_t tokens, int repeats, int candidates, const Tensor& workspace,
             StepTotals& totals) {
  const Device device = Device::cuda(0);
  const int64_t M = p.a.size(0), K = p.a.size(1), N = p.b.size(1);
  const double flops =
      2.0 * static_cast<double>(M) * static_cast<double>(N) * static_cast<double>(K);
  Tensor c = empty({M, N}, TensorOptions(DType::bf16, device));
  LtGemm lt(p.a, p.b, c, p.bias, workspace);
  // Every candidate the heuristic offers is timed; one that fails to launch is left out.
  std::vector<cublasLtMatmulAlgo_t> algos;
  std::vector<double> algo_seconds;
  for (const cublasLtMatmulAlgo_t& algo : lt.algorithms(candidates)) {
    try {
      algo_seconds.push_back(median_device_seconds(
          device, [&] { lt.run(algo); }, kWarmup, repeats));
      algos.push_back(algo);
    } catch (const Error&) {
      // left out of the candidates
    }
  }
  STRATA_CHECK(!algos.empty(), "no cuBLASLt algorithm ran for ", operands(p.a, p.b));
  size_t best = 0;
  for (size_t i = 1; i < algos.size(); ++i)
    if (algo_seconds[i] < algo_seconds[best]) best = i;
  lt.run(algos[best]);  // c: the reference output

  Tensor strata_out;
  const double strata_seconds = median_device_seconds(
      device, [&] { strata_out = p.strata(); }, kWarmup, repeats);
  const double rel_diff = relative_difference(strata_out, c);

  totals.strata_seconds += strata_seconds * static_cast<double>(p.per_step);
  totals.best_seconds += algo_seconds[best] * static_cast<double>(p.per_step);
  totals.flops += flops * static_cast<double>(p.per_step);
  ++totals.measured;
  JsonLine("gpu_gemm")
      .text("status", "ok")
      .integer("tokens", tokens)
      .text("linear", p.linear)
      .text("pass", p.pass)
      .text("operands", operands(p.a, p.b))
      .integer("m", M)
      .integer("n", N)
      .integer("k", K)
      .boolean("bias_epilogue", p.bias.defined())
      .integer("per_step", p.per_step)
      .number("strata_seconds", strata_seconds)
      .number("strata_tflops", tflops(flops, strata_seconds))
      .number("cublaslt_best_seconds", algo_seconds[best])
      .number("cublaslt_best_tflops", tflops(flops, algo_seconds[best]))
      .integer("cublaslt_best_rank", static_cast<int64_t>(best))
      .number("cublaslt_first_tflops", tflops(flops, algo_seconds[0]))
      .integer("cublaslt_candidates", static_cast<int64_t>(algos.size()))
      .number("ratio", algo_seconds[best] / strata_seconds)
      .number("rel_diff", rel_diff)
      .print();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> tokens = {8192, 16384};
  int repeats = 20, candidates = 16;
  io::CommandLine cli("strata_bench_gpu_gemm", kDescription);
  cli.flag("tokens", tokens, "tokens per step R; the default is B = 8 and 16 at T = 1024");
  cli.flag("repeats", repeats, "timed calls per measurement");
  cli.flag("candidates", candidates, "heuristic results to time for cublaslt_best");
  cli.parse(argc, argv);
  repeats = std::max(1, repeats);
  candidates = std::max(1, candidates);
  int status = 0;
  try {
    STRATA_CHECK(cuda_is_available(), "no CUDA device is visible");
    print_device(Device::cuda(0), "gpu_gemm");
    autograd::NoGradGuard no_grad;
    manual_seed(1234);
    const int64_t C = 768, V = 50304, L = 12;
    Tensor workspace = empty({static_cast<int64_t>(kWorkspaceBytes)},
                             TensorOptions(DType::boolean, Device::cuda(0)));
    for (const int64_t R : tokens) {
      std::vector<Product> products;
      add_linear(products, "c_attn", R, C, 3 * C, true, L);
      add_linear(products, "attn.c_proj", R, C, C, true, L);
      add_linear(products, "c_fc", R, C, 4 * C, true, L);
      add_linear(products, "mlp.c_proj", R, 4 * C, C, true, L);
      add_linear(products, "lm_head", R, C, V, false, 1);
      StepTotals totals;
      for (const Product& p : products) {
        try {
          measure(p, R, repeats, candidates, workspace, totals);
        } catch (const Error& e) {
          const Failure failure = classify(e.what());
          JsonLine("gpu_gemm")
              .text("status", failure_status(failure))
              .integer("tokens", R)
              .text("linear", p.linear)
              .text("pass", p.pass)
              .text("operands", operands(p.a, p.b))
              .text("error", e.what())
              .print();
          if (failure == Failure::error) status = 1;
        }
      }
      if (totals.strata_seconds > 0) {
        JsonLine("gpu_gemm_step")
            .integer("tokens", R)
            .integer("products_measured", totals.measured)
            .integer("products", static_cast<int64_t>(products.size()))
            .number("strata_seconds", totals.strata_seconds)
            .number("strata_tflops", tflops(totals.flops, totals.strata_seconds))
            .number("cublaslt_best_seconds", totals.best_seconds)
            .number("cublaslt_best_tflops", tflops(totals.flops, totals.best_seconds))
            .number("ratio", totals.best_seconds / totals.strata_seconds)
            .print();
      }
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "strata_bench_gpu_gemm: %s\n", e.what());
    return 1;
  }
  return status;
}
