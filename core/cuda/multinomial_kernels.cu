// CUDA multinomial sampling with the CPU kernel's rule and stream slots (core/random_kernels.hpp),
// so both devices draw the same classes for the same generator state. The probabilities are
// checked here, on the device: a bad row is reported through core/cuda/device_error.hpp and raised
// at the next synchronisation, so sampling never waits for the GPU.
//   Checks: one block per row. With replacement, one thread per row then builds the running sum in
//   class order (the CPU's f64 additions, hence its bits) and one thread per sample inverts it.
//   Without replacement: one thread per class computes the CPU's key log(u) / p, and the k largest
//   keys per row are the top-k kernel's k smallest of -key (ties to the lower class, classes
//   without mass keyed NaN, which sorts after every number).
#include <cub/block/block_reduce.cuh>

#include <climits>
#include <cmath>

#include "core/cuda/cuda_check.hpp"
#include "core/cuda/device_error.hpp"
#include "core/factories.hpp"
#include "core/indexing_kernels.hpp"
#include "core/random_kernels.hpp"
#include "core/random_values.hpp"

namespace strata::cuda {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t threads) {
  int64_t blocks = (threads + kThreads - 1) / kThreads;
  STRATA_CHECK(blocks <= INT_MAX, "multinomial: ", threads, " threads exceed one CUDA grid");
  return static_cast<unsigned>(blocks);
}

unsigned grid_for_rows(int64_t rows) {
  STRATA_CHECK(rows <= INT_MAX, "multinomial: ", rows, " rows exceed one CUDA grid");
  return static_cast<unsigned>(rows);
}

template <class T>
struct Minimum {
  __device__ T operator()(T a, T b) const { return b < a ? b : a; }
};
template <class T>
struct Maximum {
  __device__ T operator()(T a, T b) const { return a < b ? b : a; }
};

// What check_rows_kernel reports, as host literals (device_error.hpp stores the addresses).
struct RowProblems {
  const char* op = "multinomial";
  const char* bad_value = "negative, NaN or infinite probability at flat position";
  const char* no_mass = "no probability mass (all zeros) in row";
  const char* too_few =
      "fewer classes with non-zero probability than the samples requested without replacement in "
      "row";
};

// One block per row of probs [rows, classes]: checks it as the CPU does (the first bad class, then
// no mass, then too few classes with mass), from counts that do not depend on the order. With
// `running` set, thread 0 also writes the row's running sums in class order (the CPU's bits), its
// total (0 when the row is invalid, so no sample reads it) and its last class with mass.
__global__ void check_rows_kernel(const double* probs, int64_t classes, int64_t samples,
                                  bool replacement, double* running, double* totals,
                                  int64_t* last_positive, DeviceError* error,
                                  RowProblems problems) {
  using Reduce = cub::BlockReduce<long long, kThreads>;
  __shared__ typename Reduce::TempStorage temp;
  const int64_t r = blockIdx.x;
  const double* p = probs + r * classes;
  long long first_bad = LLONG_MAX, positive = 0, last = 0;
  for (int64_t c = threadIdx.x; c < classes; c += kThreads) {
    double v = p[c];
    if (!(isfinite(v) && v >= 0) && c < first_bad) first_bad = c;
    if (v > 0) {
      ++positive;
      last = c;
    }
  }
  first_bad = Reduce(temp).Reduce(first_bad, Minimum<long long>{});
  __syncthreads();
  positive = Reduce(temp).Sum(positive);
  __syncthreads();
  last = Reduce(temp).Reduce(last, Maximum<long long>{});
  if (threadIdx.x != 0) return;
  // Finite non-negative values have a positive sum exactly when one of them is positive.
  bool valid = false;
  if (first_bad != LLONG_MAX) {
    report_invalid(error, problems.op, problems.bad_value, r * classes + first_bad);
  } else if (positive == 0) {
    report_invalid(error, problems.op, problems.no_mass, r);
  } else if (!replacement && positive < samples) {
    report_invalid(error, problems.op, problems.too_few, r);
  } else {
    valid = true;
  }
  if (!running) return;
  double total = 0;
  for (int64_t c = 0; c < classes; ++c) {
    total += p[c];
    running[r * classes + c] = total;
  }
  totals[r] = valid ? total : 0.0;
  last_positive[r] = last;
}

// out[r, s] = the first class whose running sum exceeds u * total, u from slots
// offset + 2 (r samples + s); the last class with mass when rounding lets u * total reach total.
__global__ void sample_with_replacement_kernel(int64_t* out, const double* running,
                                               const double* totals, const int64_t* last_positive,
                                               int64_t rows, int64_t classes, int64_t samples,
                                               PhiloxState state) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * samples) return;
  const int64_t r = i / samples;
  if (!(totals[r] > 0)) {  // an invalid row, reported by check_rows_kernel
    out[i] = 0;
    return;
  }
  PhiloxWords words{state.seed};
  const double target =
      uniform_value<double>(state.offset + 2 * static_cast<uint64_t>(i), words) * totals[r];
  // upper_bound: the first c with running[c] > target.
  const double* sums = running + r * classes;
  int64_t low = 0, high = classes;
  while (low < high) {
    int64_t mid = low + (high - low) / 2;
    if (sums[mid] > target) {
      high = mid;
    } else {
      low = mid + 1;
    }
  }
  out[i] = low == classes ? last_positive[r] : low;
}

// keys[r, c] = -(log(u) / p[r, c]) with u in (0, 1] from slots offset + 2 (r classes + c); NaN
// where p has no mass.
__global__ void negated_keys_kernel(double* keys, const double* probs, int64_t count,
                                    PhiloxState state) {
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const double p = probs[i];
  if (!(p > 0)) {
    keys[i] = NAN;
    return;
  }
  PhiloxWords words{state.seed};
  uint64_t bits = word64(words, state.offset + 2 * static_cast<uint64_t>(i)) >> 11;
  keys[i] = -(random_detail::log_of_fraction<double>(bits + 1) / p);
}

}  // namespace

void multinomial_kernel(const Tensor& out, const Tensor& probs, bool replacement,
                        PhiloxState state) {
  const int64_t rows = probs.size(0), classes = probs.size(1), samples = out.size(1);
  const TensorOptions f64{DType::f64, out.device()};
  const double* p = static_cast<const double*>(probs.data_ptr());
  int64_t* result = static_cast<int64_t*>(out.data_ptr());
  if (replacement) {
    Tensor running = empty({rows, classes}, f64), totals = empty({rows}, f64);
    Tensor last_positive = empty({rows}, {DType::i64, out.device()});
    check_rows_kernel<<<grid_for_rows(rows), kThreads, 0, current_stream()>>>(
        p, classes, samples, true, static_cast<double*>(running.data_ptr()),
        static_cast<double*>(totals.data_ptr()), static_cast<int64_t*>(last_positive.data_ptr()),
        device_error_slot(), RowProblems{});
    STRATA_CUDA_CHECK(cudaGetLastError());
    sample_with_replacement_kernel<<<blocks_for(rows * samples), kThreads, 0, current_stream()>>>(
        result, static_cast<const double*>(running.data_ptr()),
        static_cast<const double*>(totals.data_ptr()),
        static_cast<const int64_t*>(last_positive.data_ptr()), rows, classes, samples, state);
    STRATA_CUDA_CHECK(cudaGetLastError());
    return;
  }
  check_rows_kernel<<<grid_for_rows(rows), kThreads, 0, current_stream()>>>(
      p, classes, samples, false, nullptr, nullptr, nullptr, device_error_slot(), RowProblems{});
  STRATA_CUDA_CHECK(cudaGetLastError());
  Tensor keys = empty({rows, classes}, f64);
  negated_keys_kernel<<<blocks_for(rows * classes), kThreads, 0, current_stream()>>>(
      static_cast<double*>(keys.data_ptr()), p, rows * classes, state);
  STRATA_CUDA_CHECK(cudaGetLastError());
  topk_kernel(empty({rows, samples}, f64), out, keys, 1, /*largest=*/false, /*sorted=*/true);
}

}  // namespace strata::cuda
