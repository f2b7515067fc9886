// conv2d and its input and weight gradients through cuDNN 9's convolution API, on the current
// stream. The algorithm for each problem (direction, shapes, window, dtype, device) is chosen once
// from cuDNN's heuristics (cudnnGet*Algorithm_v7) and cached; the first candidate that runs wins.
// Workspaces come from the Strata allocator. Choices that keep results comparable with the CPU:
//   - f32 and f64 run FMA kernels only (no TF32 tensor cores), f16/bf16 accumulate in f32;
//   - backward algorithms must be deterministic (design decision 12: no atomics-based sums).
#include <cudnn.h>

#include <array>
#include <climits>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "core/conv_kernels.hpp"
#include "core/cuda/cuda_check.hpp"
#include "core/factories.hpp"

namespace strata::cuda {
namespace {

enum class Direction { forward, input_grad, weight_grad };

const char* op_name(Direction direction) {
  switch (direction) {
    case Direction::forward: return "conv2d";
    case Direction::input_grad: return "conv2d_backward (input)";
    case Direction::weight_grad: return "conv2d_backward (weight)";
  }
  return "conv2d";
}

// One convolution as cuDNN sees it: x [N, C, H, W], weight [O, C / G, KH, KW], y [N, O, OH, OW].
struct Problem {
  Direction direction;
  DType dtype;
  int device;
  std::array<int64_t, 4> x, weight, y;
  Window2d window;
  int64_t groups;

  std::vector<int64_t> key() const {
    const Window2d& w = window;
    std::vector<int64_t> k = {static_cast<int64_t>(direction),
                              static_cast<int64_t>(dtype),
                              device,
                              groups,
                              w.stride_h,
                              w.stride_w,
                              w.pad_h,
                              w.pad_w,
                              w.dilation_h,
                              w.dilation_w};
    for (const auto* dims : {&x, &weight, &y}) k.insert(k.end(), dims->begin(), dims->end());
    return k;
  }

  std::string str() const {
    return detail::concat("input ", shape_str(Shape(x.begin(), x.end())), ", weight ",
                          shape_str(Shape(weight.begin(), weight.end())), ", output ",
                          shape_str(Shape(y.begin(), y.end())), ", stride [", window.stride_h, ", ",
                          window.stride_w, "], padding [", window.pad_h, ", ", window.pad_w,
                          "], dilation [", window.dilation_h, ", ", window.dilation_w, "], groups ",
                          groups, ", ", dtype_name(dtype));
  }
};

void check(cudnnStatus_t status, const char* call, const Problem& p) {
  if (status != CUDNN_STATUS_SUCCESS) {
    fail(op_name(p.direction), ": cuDNN error in ", call, ": ", cudnnGetErrorString(status), " (",
         p.str(), ")");
  }
}

#define STRATA_CUDNN_CHECK(problem, call) check((call), #call, problem)

cudnnDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    default: fail("conv2d: dtype ", dtype_name(dtype), " has no cuDNN type");
  }
}

int as_int(int64_t value, const Problem& p) {
  STRATA_CHECK(value <= INT_MAX, op_name(p.direction), ": size ", value,
               " exceeds cuDNN's int range (", p.str(), ")");
  return static_cast<int>(value);
}

// This thread's cuDNN handle for the current device, bound to the current stream. Handles live
// until the process ends: destroying one at thread exit may run after the CUDA context is gone.
cudnnHandle_t handle(const Problem& p) {
  thread_local std::map<int, cudnnHandle_t> handles;
  cudnnHandle_t& h = handles[p.device];
  if (!h) STRATA_CUDNN_CHECK(p, cudnnCreate(&h));
  STRATA_CUDNN_CHECK(p, cudnnSetStream(h, current_stream()));
  return h;
}

// The descriptors of a Problem, created and destroyed together.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t weight = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  const Problem& p;

  explicit Descriptors(const Problem& problem) : p(problem) {
    const cudnnDataType_t type = data_type(p.dtype);
    // 16-bit inputs accumulate in f32; f64 in f64.
    const cudnnDataType_t compute = p.dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    STRATA_CUDNN_CHECK(p, cudnnCreateTensorDescriptor(&x));
    STRATA_CUDNN_CHECK(p, cudnnCreateTensorDescriptor(&y));
    STRATA_CUDNN_CHECK(p, cudnnCreateFilterDescriptor(&weight));
    STRATA_CUDNN_CHECK(p, cudnnCreateConvolutionDescriptor(&conv));
    STRATA_CUDNN_CHECK(
        p, cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, type, as_int(p.x[0], p),
                                      as_int(p.x[1], p), as_int(p.x[2], p), as_int(p.x[3], p)));
    STRATA_CUDNN_CHECK(
        p, cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, type, as_int(p.y[0], p),
                                      as_int(p.y[1], p), as_int(p.y[2], p), as_int(p.y[3], p)));
    STRATA_CUDNN_CHECK(
        p, cudnnSetFilter4dDescriptor(weight, type, CUDNN_TENSOR_NCHW, as_int(p.weight[0], p),
                                      as_int(p.weight[1], p), as_int(p.weight[2], p),
                                      as_int(p.weight[3], p)));
    const Window2d& w = p.window;
    STRATA_CUDNN_CHECK(p, cudnnSetConvolution2dDescriptor(
                              conv, as_int(w.pad_h, p), as_int(w.pad_w, p), as_int(w.stride_h, p),
                              as_int(w.stride_w, p), as_int(w.dilation_h, p),
                              as_int(w.dilation_w, p), CUDNN_CROSS_CORRELATION, compute));
    STRATA_CUDNN_CHECK(p, cudnnSetConvolutionGroupCount(conv, as_int(p.groups, p)));
  }
  ~Descriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(weight);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

  // f32/f64 stay on FMA kernels whatever the heuristics suggest; 16-bit takes their math type.
  void set_math(cudnnMathType_t suggested) const {
    const bool wide = p.dtype == DType::f32 || p.dtype == DType::f64;
    STRATA_CUDNN_CHECK(p, cudnnSetConvolutionMathType(conv, wide ? CUDNN_FMA_MATH : suggested));
  }
};

struct Candidate {
  int algo;
  cudnnMathType_t math;
};

struct Choice {
  int algo;
  cudnnMathType_t math;
  size_t workspace_bytes;
};

// The heuristics' candidates that cuDNN reports as usable (and deterministic, for the backward),
// best first, then `fallback` (algorithms known to be deterministic) in case none of those runs.
template <class Perf>
std::vector<Candidate> candidates(const Perf* perf, int count, bool deterministic,
                                  std::initializer_list<int> fallback) {
  std::vector<Candidate> list;
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    list.push_back({static_cast<int>(perf[i].algo), perf[i].mathType});
  }
  for (int algo : fallback) list.push_back({algo, CUDNN_DEFAULT_MATH});
  return list;
}

// Runs the problem with its cached algorithm, or finds one: `find` lists candidates,
// `workspace(algo, &bytes)` sizes one, `run(algo, workspace, bytes)` launches it. A candidate
// that cuDNN rejects (not supported for these descriptors) is skipped.
template <class Find, class Workspace, class Run>
void run_convolution(const Problem& p, const Descriptors& d, Find find, Workspace workspace,
                     Run run) {
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, Choice> cache;
  const std::vector<int64_t> key = p.key();
  const TensorOptions bytes8{DType::i64, Device::cuda(p.device)};
  auto launch = [&](const Choice& c) {
    Tensor space = empty({static_cast<int64_t>((c.workspace_bytes + 7) / 8)}, bytes8);
    return run(c.algo, c.workspace_bytes ? space.data_ptr() : nullptr, c.workspace_bytes);
  };
  std::optional<Choice> cached;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end()) cached = it->second;
  }
  if (cached) {
    d.set_math(cached->math);
    STRATA_CUDNN_CHECK(p, launch(*cached));
    return;
  }
  for (const Candidate& c : find()) {
    d.set_math(c.math);
    Choice choice{c.algo, c.math, 0};
    if (workspace(c.algo, &choice.workspace_bytes) != CUDNN_STATUS_SUCCESS) continue;
    cudnnStatus_t status = launch(choice);
    // cuDNN 9 reports the reason in a sub-code (NOT_SUPPORTED_SHAPE, ..._PADDING, ...).
    if (CUDNN_STATUS_CATEGORY(status) == CUDNN_STATUS_NOT_SUPPORTED) continue;
    STRATA_CUDNN_CHECK(p, status);
    std::lock_guard<std::mutex> lock(mutex);
    cache[key] = choice;
    return;
  }
  fail(op_name(p.direction), ": cuDNN offers no ",
       p.direction == Direction::forward ? "" : "deterministic ", "algorithm for ", p.str());
}

std::array<int64_t, 4> dims4(const Tensor& t) {
  return {t.size(0), t.size(1), t.size(2), t.size(3)};
}

Problem make_problem(Direction direction, const Tensor& x, const Tensor& weight, const Tensor& y,
                     const Window2d& window, int64_t groups) {
  int device = 0;
  STRATA_CUDA_CHECK(cudaGetDevice(&device));
  return {direction, x.dtype(), device, dims4(x), dims4(weight), dims4(y), window, groups};
}

// alpha = 1 and beta = 0 in the type cuDNN expects for the data type (double for f64).
struct Scale {
  double d_one = 1, d_zero = 0;
  float f_one = 1, f_zero = 0;
  bool wide;
  explicit Scale(DType dtype) : wide(dtype == DType::f64) {}
  const void* one() const { return wide ? static_cast<const void*>(&d_one) : &f_one; }
  const void* zero() const { return wide ? static_cast<const void*>(&d_zero) : &f_zero; }
};

}  // namespace

void conv2d_kernel(const Tensor& out, const Tensor& x, const Tensor& weight, const Window2d& window,
                   int64_t groups) {
  const Problem p = make_problem(Direction::forward, x, weight, out, window, groups);
  const Descriptors d(p);
  cudnnHandle_t h = handle(p);
  const Scale s(p.dtype);
  run_convolution(
      p, d,
      [&] {
        std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf;
        int count = 0;
        STRATA_CUDNN_CHECK(p, cudnnGetConvolutionForwardAlgorithm_v7(h, d.x, d.weight, d.conv, d.y,
                                                                     static_cast<int>(perf.size()),
                                                                     &count, perf.data()));
        return candidates(perf.data(), count, false,
                          {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                           CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM});
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(
            h, d.x, d.weight, d.conv, d.y, static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      },
      [&](int algo, void* workspace, size_t bytes) {
        return cudnnConvolutionForward(h, s.one(), d.x, x.data_ptr(), d.weight, weight.data_ptr(),
                                       d.conv, static_cast<cudnnConvolutionFwdAlgo_t>(algo),
                                       workspace, bytes, s.zero(), d.y, out.data_ptr());
      });
}

void conv2d_input_grad_kernel(const Tensor& grad_x, const Tensor& grad, const Tensor& weight,
                              const Window2d& window, int64_t groups) {
  const Problem p = make_problem(Direction::input_grad, grad_x, weight, grad, window, groups);
  const Descriptors d(p);
  cudnnHandle_t h = handle(p);
  const Scale s(p.dtype);
  run_convolution(
      p, d,
      [&] {
        std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perf;
        int count = 0;
        STRATA_CUDNN_CHECK(p, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                                  h, d.weight, d.y, d.conv, d.x, static_cast<int>(perf.size()),
                                  &count, perf.data()));
        return candidates(perf.data(), count, true, {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1});
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, d.weight, d.y, d.conv, d.x, static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      },
      [&](int algo, void* workspace, size_t bytes) {
        return cudnnConvolutionBackwardData(h, s.one(), d.weight, weight.data_ptr(), d.y,
                                            grad.data_ptr(), d.conv,
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo),
                                            workspace, bytes, s.zero(), d.x, grad_x.data_ptr());
      });
}

void conv2d_weight_grad_kernel(const Tensor& grad_weight, const Tensor& grad, const Tensor& x,
                               const Window2d& window, int64_t groups) {
  const Problem p = make_problem(Direction::weight_grad, x, grad_weight, grad, window, groups);
  const Descriptors d(p);
  cudnnHandle_t h = handle(p);
  const Scale s(p.dtype);
  run_convolution(
      p, d,
      [&] {
        std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>
            perf;
        int count = 0;
        STRATA_CUDNN_CHECK(p, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                                  h, d.x, d.y, d.conv, d.weight, static_cast<int>(perf.size()),
                                  &count, perf.data()));
        return candidates(perf.data(), count, true, {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1});
      },
      [&](int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, d.x, d.y, d.conv, d.weight, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo),
            bytes);
      },
      [&](int algo, void* workspace, size_t bytes) {
        return cudnnConvolutionBackwardFilter(
            h, s.one(), d.x, x.data_ptr(), d.y, grad.data_ptr(), d.conv,
            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), workspace, bytes, s.zero(),
            d.weight, grad_weight.data_ptr());
      });
}

}  // namespace strata::cuda
