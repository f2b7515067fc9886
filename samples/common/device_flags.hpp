// The samples' --device and --dtype flags: names to Device and DType, checked against this build
// and this machine, so that a run asking for a GPU it cannot have stops at once and says why.
// A CUDA device becomes the current one, so every kernel of the run launches on it.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>

#include "core/cuda_memory.hpp"
#include "core/device.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "parallel/dist.hpp"

namespace strata::samples {

// "cpu", "cuda" or "cuda:N". "cuda" is the device dist::init chose for this rank by its local
// rank when it chose one (a launcher's job: one GPU per rank), else device 0.
inline Device select_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  const std::string digits = name.size() > 5 ? name.substr(5) : "";
  const bool indexed =
      name.starts_with("cuda:") && !digits.empty() && digits.size() < 4 &&
      std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); });
  STRATA_CHECK(name == "cuda" || indexed, "--device must be cpu, cuda or cuda:N, got '", name, "'");
#if !defined(STRATA_HAVE_CUDA)
  fail("--device ", name,
       ": this Strata build has no CUDA backend; use --device cpu, or rebuild Strata where nvcc "
       "is found (STRATA_CUDA=AUTO or ON)");
#endif
  const int chosen = dist::is_initialized() ? dist::world().cuda_device : -1;
  const int index = indexed ? std::stoi(digits) : std::max(chosen, 0);
  STRATA_CHECK(index < cuda_device_count(), "--device ", name, ": this machine has ",
               cuda_device_count(),
               " visible CUDA device(s) (check the driver and CUDA_VISIBLE_DEVICES); use --device "
               "cpu");
  cuda::set_device(index);
  return Device::cuda(index);
}

// The model's floating dtype: "f32", "bf16" or "f16" (16-bit weights keep f32 masters in the
// optimizer).
inline DType parse_model_dtype(const std::string& name) {
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    if (name == dtype_name(dtype)) return dtype;
  }
  fail("--dtype must be f32, bf16 or f16, got '", name, "'");
}

}  // namespace strata::samples
