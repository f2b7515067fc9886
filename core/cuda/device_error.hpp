// Errors that CUDA kernels find (an index or a target out of range) cannot be thrown where they
// happen, and checking the values on the host first would cost a synchronisation per op. A kernel
// records the first such error in one slot of mapped host memory instead; the host raises it as a
// strata::Error at the next point where it waits for the device anyway (a copy to the host,
// strata::cuda_synchronize()), naming the op that found it.
#pragma once

#include <cstdint>

namespace strata::cuda {

struct DeviceError {
  unsigned int claimed;  // set by the first kernel that reports; later reports are dropped
  unsigned int written;  // set once the fields below are complete
  const char* op;        // string literals from the host: their addresses are valid there
  const char* what;      // what the value is: "index", "target", "id", ...
  long long value, position, bound;
  const char* problem;  // set by report_invalid instead of what/value/bound
};

// The device's view of the one slot (mapped host memory, visible to every device).
DeviceError* device_error_slot();

// Throws the reported error, if any, and clears the slot. Call only after the work that may have
// reported it has completed (after a stream or device synchronisation).
void raise_device_error();

#if defined(__CUDACC__)
// The strings below are only stored: the host prints them. So they must be host addresses, passed
// to the kernel as arguments; a literal written in device code has a device address, which the
// host cannot read.

// From a kernel: `value` at flat `position` of the op's index operand is outside [0, bound).
__device__ inline void report_out_of_range(DeviceError* slot, const char* op, const char* what,
                                           long long value, long long position, long long bound) {
  if (atomicCAS(&slot->claimed, 0u, 1u) != 0u) return;
  slot->op = op;
  slot->what = what;
  slot->value = value;
  slot->position = position;
  slot->bound = bound;
  __threadfence_system();
  slot->written = 1u;
}

// From a kernel: the op's input is invalid for a reason other than a value out of [0, bound).
// `problem` is a literal that `position` completes: "no probability mass (all zeros) in row", 3.
__device__ inline void report_invalid(DeviceError* slot, const char* op, const char* problem,
                                      long long position) {
  if (atomicCAS(&slot->claimed, 0u, 1u) != 0u) return;
  slot->op = op;
  slot->problem = problem;
  slot->position = position;
  __threadfence_system();
  slot->written = 1u;
}
#endif

}  // namespace strata::cuda
