// Where a tensor lives: the CPU, or CUDA device n.
#pragma once

#include <cstdint>
#include <string>

namespace strata {

struct Device {
  enum class Type : uint8_t { cpu, cuda };
  Type type = Type::cpu;
  int index = 0;

  static constexpr Device cpu() { return {Type::cpu, 0}; }
  static constexpr Device cuda(int index = 0) { return {Type::cuda, index}; }
  constexpr bool is_cpu() const { return type == Type::cpu; }
  constexpr bool is_cuda() const { return type == Type::cuda; }
  constexpr bool operator==(const Device&) const = default;
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

// True when this build has the CUDA backend and at least one device is visible.
bool cuda_is_available();
// Number of visible CUDA devices (0 in a CPU-only build).
int cuda_device_count();
// Waits for all work on the current CUDA device, then raises any error a kernel reported
// asynchronously (core/cuda/device_error.hpp). Nothing to do in a CPU-only build.
void cuda_synchronize();

}  // namespace strata
