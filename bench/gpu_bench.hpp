// Shared pieces of the GPU benchmarks (strata_bench_gpu_train, strata_bench_gpu_gemm,
// strata_bench_gpu_bandwidth): the JSON line each measurement prints, timing of device work with
// CUDA events on the current stream (the host clock on the CPU), and how a failed measurement is
// told apart: a missing CUDA kernel (another branch adds it), an out-of-memory, or a real error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/device.hpp"

namespace strata::bench::gpu {

// The dense bf16 tensor-core peak of an H100 SXM (989.4 TFLOP/s without sparsity), against which
// MFU is reported whatever the device: the goals are stated against it.
inline constexpr double kH100BF16PeakFlops = 989e12;

// One JSON object on one line: {"bench":..., fields in the order added}. NaN and infinities
// print as null.
class JsonLine {
 public:
  explicit JsonLine(std::string_view bench);
  JsonLine& text(std::string_view key, std::string_view value);
  JsonLine& number(std::string_view key, double value);
  JsonLine& integer(std::string_view key, int64_t value);
  JsonLine& boolean(std::string_view key, bool value);
  // Prints the line to stdout and flushes, so a crash later keeps what was measured.
  void print() const;

 private:
  std::string line_;
};

// Times regions of device work. On CUDA: an event pair recorded on the current stream around
// each region; stop() waits for the end event, which is the only synchronisation. On the CPU: the
// host clock (CPU ops finish before they return).
class DeviceTimer {
 public:
  explicit DeviceTimer(Device device);
  ~DeviceTimer();
  DeviceTimer(const DeviceTimer&) = delete;
  DeviceTimer& operator=(const DeviceTimer&) = delete;
  void start();
  double stop();  // seconds since start(), after the device finished the region

 private:
  Device device_;
  void* start_event_ = nullptr;  // cudaEvent_t, kept opaque so CPU-only builds compile this
  void* stop_event_ = nullptr;
  double host_start_ = 0;
};

// Median device seconds of fn over `repeats` calls after `warmup` calls. On CUDA each call is
// bracketed by its own events and all are queued before one synchronisation at the end, so host
// time between calls overlaps device work unless the device runs dry.
double median_device_seconds(Device device, const std::function<void()>& fn, int warmup,
                             int repeats);

double median(std::vector<double> values);

// What a strata::Error from a measurement means.
enum class Failure {
  unavailable,    // "no kernel for device": the op has no CUDA kernel on this branch yet
  out_of_memory,  // the allocator, cuBLASLt or the runtime ran out of device memory
  error,          // anything else: a bug, reported and counted
};
Failure classify(const std::string& message);
const char* failure_status(Failure failure);  // "unavailable", "out_of_memory", "error"

// Prints the device line: name, SMs, memory, clocks (CUDA), or the CPU. Every run starts with it.
void print_device(Device device, std::string_view bench);

}  // namespace strata::bench::gpu
