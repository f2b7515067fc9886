// CUDA GEMM through cuBLASLt: f32 (exact, or TF32 tensor cores under MatmulPrecision::high), f64,
// and bf16/f16 with f32 accumulation, strided-batched, with the bias fused as an epilogue, and the
// GELU and bias-gradient epilogues of linear_gelu and linear_backward (core/gemm.hpp).
//
// cuBLASLt is column-major, and a row-major matrix is its column-major transpose, so the row-major
// product c = a @ b is computed as the column-major c^T = b^T @ a^T: cuBLASLt's A is our b and its
// B is our a, with m = N and n = M. An operand whose stored layout is column-major in Strata's
// terms (a transposed view) is passed with op = T instead. Batch dims beyond the innermost one
// (which cuBLASLt takes as a strided batch, stride 0 broadcasting) are looped over on the host.
// The algorithm cuBLASLt's heuristic picks is kept per problem, so repeated shapes skip the query.
//
// In those terms the epilogues are: the bias runs along D's rows (one value per output feature N);
// GELU_AUX_BIAS writes the pre-activation as an aux matrix shaped like D; BGRADB sums cuBLASLt's B
// (our a) over k, one value per column of D, i.e. per row M of our a.
#include <cublasLt.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/cuda/cuda_check.hpp"
#include "core/elementwise.hpp"
#include "core/gemm.hpp"
#include "core/linalg.hpp"
#include "core/reduce.hpp"

namespace strata::cuda {
namespace {

// One workspace per device and stream: kernels queued on one stream use it in order, while two
// streams would race on a shared one.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// "bf16 [8, 768] x [768, 3072]": the problem, for error messages.
std::string problem_str(const GemmArgs& g) {
  return std::string(dtype_name(g.c.dtype())) + " " + shape_str(g.a.shape()) + " x " +
         shape_str(g.b.shape());
}

// Throws naming the op, the cuBLASLt call, the problem and the status.
void check_cublas(cublasStatus_t status, const char* call, const GemmArgs& g) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  fail(g.op, ": cuBLASLt error in ", call, " for ", problem_str(g), ": ",
       cublasLtGetStatusName(status), " (", cublasLtGetStatusString(status), ")");
}
#define STRATA_CUBLAS_CHECK(call, args) check_cublas((call), #call, args)

cudaDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::f64: return CUDA_R_64F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

// f64 in f64; f32 in f32 or, under MatmulPrecision::high, with inputs rounded to TF32 on the
// tensor cores; f16/bf16 on the tensor cores with f32 accumulation.
cublasComputeType_t compute_type(DType dtype) {
  if (dtype == DType::f64) return CUBLAS_COMPUTE_64F;
  if (dtype == DType::f32 && float32_matmul_precision() == MatmulPrecision::high)
    return CUBLAS_COMPUTE_32F_FAST_TF32;
  return CUBLAS_COMPUTE_32F;
}

// One operand as cuBLASLt sees it: op, rows x cols of the stored column-major matrix, leading dim.
struct Operand {
  cublasOperation_t op;
  uint64_t rows, cols;
  int64_t ld;
};

// x [..., R, C] row-major (stride(-1) == 1) is column-major [C, R] with ld = stride(-2) and op N;
// column-major (stride(-2) == 1) is [R, C] with ld = stride(-1), needing op T to read it as [C, R].
Operand describe(const Tensor& x) {
  const uint64_t rows = x.size(-2), cols = x.size(-1);
  if (x.stride(-1) == 1) return {CUBLAS_OP_N, cols, rows, x.stride(-2)};
  return {CUBLAS_OP_T, rows, cols, x.stride(-1)};
}

// Largest power of two (up to 256) dividing the address: cuBLASLt excludes algorithms that need
// more alignment than we promise. An absent pointer promises everything.
uint32_t alignment(const void* ptr) {
  auto address = reinterpret_cast<uintptr_t>(ptr);
  uint32_t align = 256;
  while (align > 1 && address % align != 0) align /= 2;
  return align;
}
uint32_t alignment(const Tensor& x) { return x.defined() ? alignment(x.data_ptr()) : 256; }

// A cuBLASLt object destroyed with its scope.
template <class Handle, cublasStatus_t (*destroy)(Handle)>
struct Owned {
  Handle handle = nullptr;
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (handle) destroy(handle);
  }
};
using MatmulDesc = Owned<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>;
using Layout = Owned<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>;
using Preference = Owned<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>;

cublasLtHandle_t lt_handle(const GemmArgs& g) {
  thread_local Owned<cublasLtHandle_t, cublasLtDestroy> handle;
  if (!handle.handle) STRATA_CUBLAS_CHECK(cublasLtCreate(&handle.handle), g);
  return handle.handle;
}

// The workspace of (device, stream), allocated on first use and kept for the process (never
// freed: it may outlive the allocator at exit). A pool allocation per call would be cheap, but it
// would show as 32 MiB of churn in memory_stats' peak and cost a pool round trip per GEMM.
void* workspace(int device, cudaStream_t stream) {
  static std::mutex mutex;
  static auto* workspaces = new std::map<std::pair<int, cudaStream_t>, Storage>();
  std::lock_guard lock(mutex);
  Storage& storage = (*workspaces)[{device, stream}];
  if (!storage.defined()) storage = Storage(kWorkspaceBytes, Device::cuda(device));
  return storage.data();
}

// Makes device current for the scope.
struct DeviceGuard {
  int previous = 0;
  explicit DeviceGuard(int device) {
    STRATA_CUDA_CHECK(cudaGetDevice(&previous));
    if (previous != device) STRATA_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { cudaSetDevice(previous); }
};

// Algorithms chosen by the heuristic, by problem; found = false records that it had none.
struct Choice {
  cublasLtMatmulAlgo_t algo;
  bool found;
};
class AlgoCache {
 public:
  bool find(const std::vector<int64_t>& key, Choice& choice) {
    std::lock_guard lock(mutex_);
    auto found = choices_.find(key);
    if (found == choices_.end()) return false;
    choice = found->second;
    return true;
  }
  void insert(const std::vector<int64_t>& key, const Choice& choice) {
    std::lock_guard lock(mutex_);
    if (choices_.size() >= kCapacity) choices_.clear();
    choices_.emplace(key, choice);
  }

 private:
  struct Hash {
    size_t operator()(const std::vector<int64_t>& key) const {
      size_t h = 1469598103934665603ull;
      for (int64_t v : key) h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
      return h;
    }
  };
  static constexpr size_t kCapacity = 1024;
  std::mutex mutex_;
  std::unordered_map<std::vector<int64_t>, Choice, Hash> choices_;
};

// c = a @ b with g's epilogue (bias, GELU_AUX(_BIAS), BGRADB), or c += a @ b when accumulate, over
// the innermost batch dim (or none): the tensors have at most one batch dim, of size 1 (broadcast)
// or the batch count. Returns false, having run nothing, when cuBLASLt has no algorithm for an
// epilogue (the caller composes it); a plain product without one is an error.
bool lt_matmul(const GemmArgs& g, bool accumulate) {
  const DType dtype = g.c.dtype();
  const bool batched = g.c.dim() == 3;
  const int64_t batch = batched ? g.c.size(0) : 1;
  const uint64_t m = g.c.size(-1), n = g.c.size(-2), k = g.a.size(-1);
  // cuBLASLt's A is our b, its B our a; D = C is c^T, column-major [N, M].
  const Operand lt_a = describe(g.b), lt_b = describe(g.a);
  auto batch_stride = [&](const Tensor& x) { return batched && x.size(0) != 1 ? x.stride(0) : 0; };

  const cublasComputeType_t compute = compute_type(dtype);
  const cudaDataType_t scale_type = dtype == DType::f64 ? CUDA_R_64F : CUDA_R_32F;
  const cudaDataType_t type = data_type(dtype);
  MatmulDesc op;
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.handle, compute, scale_type), g);
  auto set = [&](cublasLtMatmulDescAttributes_t attribute, const auto& value) {
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, attribute, &value, sizeof(value)),
                        g);
  };
  set(CUBLASLT_MATMUL_DESC_TRANSA, lt_a.op);
  set(CUBLASLT_MATMUL_DESC_TRANSB, lt_b.op);
  const bool with_bias = g.bias.defined() && !accumulate;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* vector = nullptr;  // the bias read, or the bias gradient written
  if (g.gelu_input.defined()) {
    epilogue = with_bias ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
    const void* aux = g.gelu_input.data_ptr();
    const int64_t aux_ld = g.gelu_input.stride(0);
    set(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, aux);
    set(CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, aux_ld);
  } else if (g.a_row_sums.defined()) {
    epilogue = CUBLASLT_EPILOGUE_BGRADB;
  } else if (with_bias) {
    epilogue = CUBLASLT_EPILOGUE_BIAS;
  }
  if (with_bias) vector = g.bias.data_ptr();
  if (g.a_row_sums.defined()) vector = g.a_row_sums.data_ptr();
  if (epilogue != CUBLASLT_EPILOGUE_DEFAULT) set(CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue);
  if (vector) set(CUBLASLT_MATMUL_DESC_BIAS_POINTER, vector);

  auto make_layout = [&](Layout& layout, uint64_t rows, uint64_t cols, int64_t ld, int64_t stride) {
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout.handle, type, rows, cols, ld), g);
    if (batch == 1) return;
    int32_t count = static_cast<int32_t>(batch);
    STRATA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout.handle, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                         sizeof(count)),
        g);
    STRATA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout.handle, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                         &stride, sizeof(stride)),
        g);
  };
  Layout a_layout, b_layout, c_layout;
  make_layout(a_layout, lt_a.rows, lt_a.cols, lt_a.ld, batch_stride(g.b));
  make_layout(b_layout, lt_b.rows, lt_b.cols, lt_b.ld, batch_stride(g.a));
  // c's rows step by its stride, not by m: composed_epilogue writes into gelu_input, whose leading
  // dim is rounded up to a multiple of 8 (a size-1 dim may carry any stride, hence the max).
  const int64_t c_ld = std::max(g.c.stride(-2), static_cast<int64_t>(m));
  make_layout(c_layout, m, n, c_ld, batch_stride(g.c));

  // Everything the heuristic's answer depends on: the problem, the layouts, the epilogue, the
  // compute type (the f32 precision setting) and every pointer's alignment.
  const uint32_t align_a = alignment(g.b), align_b = alignment(g.a), align_c = alignment(g.c);
  const uint32_t align_vector = alignment(vector), align_aux = alignment(g.gelu_input);
  const int64_t aux_ld = g.gelu_input.defined() ? g.gelu_input.stride(0) : 0;
  std::vector<int64_t> key = {g.c.device().index,
                              static_cast<int64_t>(dtype),
                              static_cast<int64_t>(compute),
                              static_cast<int64_t>(epilogue),
                              accumulate,
                              batch,
                              static_cast<int64_t>(m),
                              static_cast<int64_t>(n),
                              static_cast<int64_t>(k),
                              lt_a.op,
                              lt_b.op,
                              lt_a.ld,
                              lt_b.ld,
                              c_ld,
                              aux_ld,
                              batch_stride(g.a),
                              batch_stride(g.b),
                              batch_stride(g.c),
                              align_a,
                              align_b,
                              align_c,
                              align_vector,
                              align_aux};
  static AlgoCache cache;
  Choice choice{};
  if (!cache.find(key, choice)) {
    Preference preference;
    STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference.handle), g);
    auto prefer = [&](cublasLtMatmulPreferenceAttributes_t attribute, const auto& value) {
      STRATA_CUBLAS_CHECK(
          cublasLtMatmulPreferenceSetAttribute(preference.handle, attribute, &value, sizeof(value)),
          g);
    };
    prefer(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{kWorkspaceBytes});
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a);
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b);
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c);
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    // cuBLASLt answers NOT_SUPPORTED, rather than a count of 0, when it has no algorithm for the
    // configuration (an epilogue it cannot fuse here): that is the composed path's case, no error.
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(
        lt_handle(g), op.handle, a_layout.handle, b_layout.handle, c_layout.handle, c_layout.handle,
        preference.handle, 1, &result, &found);
    if (status != CUBLAS_STATUS_NOT_SUPPORTED) {
      check_cublas(status, "cublasLtMatmulAlgoGetHeuristic", g);
    }
    choice = {result.algo, status == CUBLAS_STATUS_SUCCESS && found > 0 &&
                               result.state == CUBLAS_STATUS_SUCCESS};
    cache.insert(key, choice);
  }
  if (!choice.found) {
    STRATA_CHECK(epilogue != CUBLASLT_EPILOGUE_DEFAULT && epilogue != CUBLASLT_EPILOGUE_BIAS, g.op,
                 ": cuBLASLt has no algorithm for ", problem_str(g));
    return false;
  }

  const double one64 = 1.0, zero64 = 0.0;
  const float one32 = 1.0f, zero32 = 0.0f;
  const void* alpha = dtype == DType::f64 ? static_cast<const void*>(&one64) : &one32;
  const void* beta = dtype == DType::f64 ? static_cast<const void*>(accumulate ? &one64 : &zero64)
                                         : (accumulate ? &one32 : &zero32);
  STRATA_CUBLAS_CHECK(
      cublasLtMatmul(lt_handle(g), op.handle, alpha, g.b.data_ptr(), a_layout.handle,
                     g.a.data_ptr(), b_layout.handle, beta, g.c.data_ptr(), c_layout.handle,
                     g.c.data_ptr(), c_layout.handle, &choice.algo,
                     workspace(g.c.device().index, current_stream()), kWorkspaceBytes,
                     current_stream()),
      g);
  return true;
}

// The epilogues from other kernels, for a problem cuBLASLt has no fused algorithm for.
void composed_epilogue(const GemmArgs& g) {
  GemmArgs plain = g;
  plain.gelu_input = plain.a_row_sums = Tensor();
  if (g.gelu_input.defined()) {
    plain.c = g.gelu_input;
    lt_matmul(plain, false);
    Tensor(g.c).copy_(gelu(g.gelu_input, GeluApproximation::tanh));
  } else {
    lt_matmul(plain, false);
    Tensor(g.a_row_sums).copy_(sum(g.a, {1}));
  }
}

}  // namespace

void gemm(const GemmArgs& g) {
  DeviceGuard guard(g.c.device().index);
  if (g.gelu_input.defined() || g.a_row_sums.defined()) {
    STRATA_CHECK(g.c.dim() == 2 && g.c.dtype() != DType::f64, g.op,
                 ": the GELU and bias-gradient epilogues take 2-D f32/f16/bf16 products, got ",
                 problem_str(g));
    STRATA_CHECK(!g.gelu_input.defined() || g.gelu_input.stride(0) % 8 == 0, g.op,
                 ": the GELU pre-activation needs a leading dim divisible by 8, got ",
                 g.gelu_input.stride(0));
    if (!lt_matmul(g, false)) composed_epilogue(g);
    return;
  }
  // cuBLASLt's bias epilogue serves the 16- and 32-bit types; an f64 bias is written into c first
  // and the product accumulated onto it.
  const bool accumulate = g.bias.defined() && g.c.dtype() == DType::f64;
  if (accumulate) Tensor(g.c).copy_(g.bias.expand(g.c.shape()));
  // Batch dims before the innermost one: one strided-batched call per index, looped here.
  const int64_t outer_dims = std::max<int64_t>(0, g.c.dim() - 3);
  const Shape outer(g.c.shape().begin(), g.c.shape().begin() + outer_dims);
  const int64_t calls = shape_numel(outer);
  for (int64_t index = 0; index < calls; ++index) {
    GemmArgs slice = g;
    // This index's matrices, outermost dim first; size-1 dims broadcast.
    for (int64_t d = 0, rest = index, inner = calls; d < outer_dims; ++d) {
      inner /= outer[d];
      const int64_t position = rest / inner;
      rest %= inner;
      auto pick = [&](const Tensor& x) { return x.select(0, x.size(0) == 1 ? 0 : position); };
      slice.a = pick(slice.a);
      slice.b = pick(slice.b);
      slice.c = pick(slice.c);
    }
    lt_matmul(slice, accumulate);
  }
}

}  // namespace strata::cuda
