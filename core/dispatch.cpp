#include "core/dispatch.hpp"

namespace strata {

Device common_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
    } else {
      STRATA_CHECK(t->device() == first->device(), op, ": tensors are on different devices (",
                   first->device().str(), " and ", t->device().str(),
                   "); move them to one device with .to(device)");
    }
  }
  STRATA_CHECK(first, op, ": no defined tensor among the operands");
  return first->device();
}

DType common_dtype(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
    } else {
      STRATA_CHECK(t->dtype() == first->dtype(), op, ": dtype mismatch (",
                   dtype_name(first->dtype()), " and ", dtype_name(t->dtype()),
                   "); convert one with .to(dtype)");
    }
  }
  STRATA_CHECK(first, op, ": no defined tensor among the operands");
  return first->dtype();
}

}  // namespace strata
