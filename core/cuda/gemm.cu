// CUDA GEMM through cuBLASLt: f32, f64, and bf16/f16 with f32 accumulation, strided-batched, with
// the bias fused as an epilogue.
//
// cuBLASLt is column-major, and a row-major matrix is its column-major transpose, so the row-major
// product c = a @ b is computed as the column-major c^T = b^T @ a^T: cuBLASLt's A is our b and its
// B is our a, with m = N and n = M. An operand whose stored layout is column-major in Strata's
// terms (a transposed view) is passed with op = T instead. Batch dims beyond the innermost one
// (which cuBLASLt takes as a strided batch, stride 0 broadcasting) are looped over on the host.
// The algorithm cuBLASLt's heuristic picks is kept per problem, so repeated shapes skip the query.
#include <cublasLt.h>

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda/cuda_check.hpp"
#include "core/gemm.hpp"

#define STRATA_CUBLAS_CHECK(call)                                                \
  do {                                                                           \
    cublasStatus_t strata_cublas_status = (call);                                \
    if (strata_cublas_status != CUBLAS_STATUS_SUCCESS) {                         \
      ::strata::fail("cuBLASLt error in ", #call, " (", __FILE__, ":", __LINE__, \
                     "): ", cublasLtGetStatusName(strata_cublas_status), ": ",   \
                     cublasLtGetStatusString(strata_cublas_status));             \
    }                                                                            \
  } while (0)

namespace strata::cuda {
namespace {

constexpr size_t kWorkspaceBytes = size_t{32} << 20;

cudaDataType_t data_type(DType dtype) {
  switch (dtype) {
    case DType::f64: return CUDA_R_64F;
    case DType::f16: return CUDA_R_16F;
    case DType::bf16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
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
// more alignment than we promise.
uint32_t alignment(const void* ptr) {
  auto address = reinterpret_cast<uintptr_t>(ptr);
  uint32_t align = 256;
  while (align > 1 && address % align != 0) align /= 2;
  return align;
}

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

cublasLtHandle_t lt_handle() {
  thread_local Owned<cublasLtHandle_t, cublasLtDestroy> handle;
  if (!handle.handle) STRATA_CUBLAS_CHECK(cublasLtCreate(&handle.handle));
  return handle.handle;
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

// Algorithms chosen by the heuristic, by problem.
class AlgoCache {
 public:
  bool find(const std::vector<int64_t>& key, cublasLtMatmulAlgo_t& algo) {
    std::lock_guard lock(mutex_);
    auto found = algos_.find(key);
    if (found == algos_.end()) return false;
    algo = found->second;
    return true;
  }
  void insert(const std::vector<int64_t>& key, const cublasLtMatmulAlgo_t& algo) {
    std::lock_guard lock(mutex_);
    if (algos_.size() >= kCapacity) algos_.clear();
    algos_.emplace(key, algo);
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
  std::unordered_map<std::vector<int64_t>, cublasLtMatmulAlgo_t, Hash> algos_;
};

// c = a @ b (+ bias), or c += a @ b when accumulate, over the innermost batch dim (or none): the
// tensors have at most one batch dim, of size 1 (broadcast) or the batch count.
void lt_matmul(const GemmArgs& g, const Storage& workspace, bool accumulate) {
  const DType dtype = g.c.dtype();
  const bool batched = g.c.dim() == 3;
  const int64_t batch = batched ? g.c.size(0) : 1;
  const uint64_t m = g.c.size(-1), n = g.c.size(-2), k = g.a.size(-1);
  // cuBLASLt's A is our b, its B our a; D = C is c^T, column-major [N, M].
  const Operand lt_a = describe(g.b), lt_b = describe(g.a);
  auto batch_stride = [&](const Tensor& x) { return batched && x.size(0) != 1 ? x.stride(0) : 0; };

  const cublasComputeType_t compute = dtype == DType::f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F;
  const cudaDataType_t scale_type = dtype == DType::f64 ? CUDA_R_64F : CUDA_R_32F;
  const cudaDataType_t type = data_type(dtype);
  MatmulDesc op;
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.handle, compute, scale_type));
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_TRANSA,
                                                     &lt_a.op, sizeof(lt_a.op)));
  STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_TRANSB,
                                                     &lt_b.op, sizeof(lt_b.op)));
  const bool bias_epilogue = g.bias.defined() && !accumulate;
  if (bias_epilogue) {
    // The bias runs along D's rows, which are c's columns: one value per output feature.
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    const void* bias = g.bias.data_ptr();
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                       &epilogue, sizeof(epilogue)));
    STRATA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op.handle, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                       &bias, sizeof(bias)));
  }

  auto make_layout = [&](Layout& layout, uint64_t rows, uint64_t cols, int64_t ld, int64_t stride) {
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout.handle, type, rows, cols, ld));
    if (batch == 1) return;
    int32_t count = static_cast<int32_t>(batch);
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        layout.handle, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    STRATA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        layout.handle, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  };
  Layout a_layout, b_layout, c_layout;
  make_layout(a_layout, lt_a.rows, lt_a.cols, lt_a.ld, batch_stride(g.b));
  make_layout(b_layout, lt_b.rows, lt_b.cols, lt_b.ld, batch_stride(g.a));
  make_layout(c_layout, m, n, static_cast<int64_t>(m), batch_stride(g.c));

  const uint32_t align_a = alignment(g.b.data_ptr()), align_b = alignment(g.a.data_ptr()),
                 align_c = alignment(g.c.data_ptr());
  std::vector<int64_t> key = {g.c.device().index,
                              static_cast<int64_t>(dtype),
                              bias_epilogue,
                              batch,
                              static_cast<int64_t>(m),
                              static_cast<int64_t>(n),
                              static_cast<int64_t>(k),
                              lt_a.op,
                              lt_b.op,
                              lt_a.ld,
                              lt_b.ld,
                              batch_stride(g.a),
                              batch_stride(g.b),
                              align_a,
                              align_b,
                              align_c};
  static AlgoCache cache;
  cublasLtMatmulAlgo_t algo;
  if (!cache.find(key, algo)) {
    Preference preference;
    STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&preference.handle));
    auto prefer = [&](cublasLtMatmulPreferenceAttributes_t attribute, const auto& value) {
      STRATA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(preference.handle, attribute, &value,
                                                               sizeof(value)));
    };
    prefer(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{kWorkspaceBytes});
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a);
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b);
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c);
    prefer(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    STRATA_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(
        lt_handle(), op.handle, a_layout.handle, b_layout.handle, c_layout.handle, c_layout.handle,
        preference.handle, 1, &result, &found));
    STRATA_CHECK(found > 0, "matmul: cuBLASLt has no algorithm for ", dtype_name(dtype), " ",
                 shape_str(g.a.shape()), " x ", shape_str(g.b.shape()));
    algo = result.algo;
    cache.insert(key, algo);
  }

  const double one64 = 1.0, zero64 = 0.0;
  const float one32 = 1.0f, zero32 = 0.0f;
  const void* alpha = dtype == DType::f64 ? static_cast<const void*>(&one64) : &one32;
  const void* beta = dtype == DType::f64 ? static_cast<const void*>(accumulate ? &one64 : &zero64)
                                         : (accumulate ? &one32 : &zero32);
  STRATA_CUBLAS_CHECK(cublasLtMatmul(lt_handle(), op.handle, alpha, g.b.data_ptr(), a_layout.handle,
                                     g.a.data_ptr(), b_layout.handle, beta, g.c.data_ptr(),
                                     c_layout.handle, g.c.data_ptr(), c_layout.handle, &algo,
                                     workspace.data(), kWorkspaceBytes, current_stream()));
}

}  // namespace

void gemm(const GemmArgs& g) {
  DeviceGuard guard(g.c.device().index);
  Storage workspace(kWorkspaceBytes, g.c.device());
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
    lt_matmul(slice, workspace, accumulate);
  }
}

}  // namespace strata::cuda
