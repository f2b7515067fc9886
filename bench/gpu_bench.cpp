// The GPU benchmarks' shared pieces: JSON lines, event timing, failure classes, the device line.
#include "bench/gpu_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "core/error.hpp"
#include "io/json_string.hpp"

#if defined(STRATA_HAVE_CUDA)
#include "core/cuda/cuda_check.hpp"
#endif

namespace strata::bench::gpu {

JsonLine::JsonLine(std::string_view bench) : line_("{\"bench\":" + io::json_string(bench)) {}

JsonLine& JsonLine::text(std::string_view key, std::string_view value) {
  line_ += "," + io::json_string(key) + ":" + io::json_string(value);
  return *this;
}

JsonLine& JsonLine::number(std::string_view key, double value) {
  // Whole numbers (bytes, counts) print exactly; the rest with 6 significant digits.
  char formatted[32] = "null";
  if (std::isfinite(value)) {
    const bool whole = value == std::floor(value) && std::fabs(value) < 1e15;
    std::snprintf(formatted, sizeof formatted, whole ? "%.0f" : "%.6g", value);
  }
  line_ += "," + io::json_string(key) + ":" + formatted;
  return *this;
}

JsonLine& JsonLine::integer(std::string_view key, int64_t value) {
  line_ += "," + io::json_string(key) + ":" + std::to_string(value);
  return *this;
}

JsonLine& JsonLine::boolean(std::string_view key, bool value) {
  line_ += "," + io::json_string(key) + ":" + (value ? "true" : "false");
  return *this;
}

void JsonLine::print() const {
  std::printf("%s}\n", line_.c_str());
  std::fflush(stdout);
}

namespace {
double host_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

// Every CUDA call below sits in an #if: a CPU-only build has no CUDA device to time, and
// DeviceTimer's constructor refuses one (no_cuda_backend).
namespace {
[[noreturn]] void no_cuda_backend(Device device) {
  fail("strata GPU benchmarks: this Strata build has no CUDA backend (device ", device.str(),
       "); rebuild with nvcc available");
}
}  // namespace

DeviceTimer::DeviceTimer(Device device) : device_(device) {
  if (!device_.is_cuda()) return;
#if defined(STRATA_HAVE_CUDA)
  cudaEvent_t start, stop;
  STRATA_CUDA_CHECK(cudaEventCreate(&start));
  STRATA_CUDA_CHECK(cudaEventCreate(&stop));
  start_event_ = start;
  stop_event_ = stop;
#else
  no_cuda_backend(device_);
#endif
}

DeviceTimer::~DeviceTimer() {
#if defined(STRATA_HAVE_CUDA)
  if (start_event_) cudaEventDestroy(static_cast<cudaEvent_t>(start_event_));
  if (stop_event_) cudaEventDestroy(static_cast<cudaEvent_t>(stop_event_));
#endif
}

void DeviceTimer::start() {
  if (!device_.is_cuda()) {
    host_start_ = host_seconds();
    return;
  }
#if defined(STRATA_HAVE_CUDA)
  STRATA_CUDA_CHECK(
      cudaEventRecord(static_cast<cudaEvent_t>(start_event_), cuda::current_stream()));
#endif
}

double DeviceTimer::stop() {
  if (!device_.is_cuda()) return host_seconds() - host_start_;
  float ms = 0;
#if defined(STRATA_HAVE_CUDA)
  auto stop = static_cast<cudaEvent_t>(stop_event_);
  STRATA_CUDA_CHECK(cudaEventRecord(stop, cuda::current_stream()));
  STRATA_CUDA_CHECK(cudaEventSynchronize(stop));
  STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_event_), stop));
#endif
  return 1e-3 * ms;
}

double median_device_seconds(Device device, const std::function<void()>& fn, int warmup,
                             int repeats) {
  STRATA_CHECK(repeats > 0, "median_device_seconds: repeats must be positive, got ", repeats);
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> seconds(repeats);
  if (!device.is_cuda()) {
    for (double& s : seconds) {
      const double start = host_seconds();
      fn();
      s = host_seconds() - start;
    }
    return median(seconds);
  }
#if defined(STRATA_HAVE_CUDA)
  // Event pairs for every call, queued behind the work; read after one synchronisation.
  std::vector<cudaEvent_t> events(2 * repeats);
  for (cudaEvent_t& e : events) STRATA_CUDA_CHECK(cudaEventCreate(&e));
  for (int i = 0; i < repeats; ++i) {
    STRATA_CUDA_CHECK(cudaEventRecord(events[2 * i], cuda::current_stream()));
    fn();
    STRATA_CUDA_CHECK(cudaEventRecord(events[2 * i + 1], cuda::current_stream()));
  }
  STRATA_CUDA_CHECK(cudaEventSynchronize(events.back()));
  for (int i = 0; i < repeats; ++i) {
    float ms = 0;
    STRATA_CUDA_CHECK(cudaEventElapsedTime(&ms, events[2 * i], events[2 * i + 1]));
    seconds[i] = 1e-3 * ms;
  }
  for (cudaEvent_t e : events) cudaEventDestroy(e);
#else
  no_cuda_backend(device);
#endif
  return median(seconds);
}

void print_device(Device device, std::string_view bench) {
  JsonLine line(bench);
  line.text("name", "device").text("device", device.str());
  if (device.is_cuda()) {
#if defined(STRATA_HAVE_CUDA)
    cudaDeviceProp p;
    STRATA_CUDA_CHECK(cudaGetDeviceProperties(&p, device.index));
    int driver = 0, runtime = 0;
    STRATA_CUDA_CHECK(cudaDriverGetVersion(&driver));
    STRATA_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    line.text("gpu", p.name)
        .integer("sm_count", p.multiProcessorCount)
        .text("compute_capability", std::to_string(p.major) + "." + std::to_string(p.minor))
        .integer("memory_bytes", static_cast<int64_t>(p.totalGlobalMem))
        .integer("l2_bytes", p.l2CacheSize)
        .integer("cuda_driver", driver)
        .integer("cuda_runtime", runtime);
#else
    no_cuda_backend(device);
#endif
  } else {
    line.integer("hardware_threads", std::thread::hardware_concurrency());
  }
  line.number("peak_bf16_flops_for_mfu", kH100BF16PeakFlops).print();
}

double median(std::vector<double> values) {
  STRATA_CHECK(!values.empty(), "median: no values");
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

Failure classify(const std::string& message) {
  if (message.find("no kernel for device") != std::string::npos) return Failure::unavailable;
  for (const char* oom :
       {"out of memory", "cudaErrorMemoryAllocation", "CUBLAS_STATUS_ALLOC_FAILED"})
    if (message.find(oom) != std::string::npos) return Failure::out_of_memory;
  return Failure::error;
}

const char* failure_status(Failure failure) {
  switch (failure) {
    case Failure::unavailable: return "unavailable";
    case Failure::out_of_memory: return "out_of_memory";
    case Failure::error: return "error";
  }
  return "error";
}

}  // namespace strata::bench::gpu
