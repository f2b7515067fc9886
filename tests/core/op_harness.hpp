// The op harness: every core op registers its cases once, and one test runs each case on every
// device present and every dtype the case lists, checking
//   - forward outputs against a plain-loop reference computed in f64 on the same (rounded) inputs;
//   - backward kernels against central finite differences in f64 on the CPU;
//   - backward kernels in every dtype and on every device against the f64 CPU backward.
// An op in core/op_list.hpp without a case fails the coverage test.
//
// Vocabulary: a *case* is one way to call an op (shapes, layouts, options). Inputs are made on the
// CPU by make_inputs, in the dtype under test; `forward` calls the Strata op; `reference` receives
// f64 contiguous copies of the floating inputs (other inputs as they are) and computes the expected
// outputs with loops; `backward`, when set, maps (inputs, outputs, grad of output 0) to the
// gradient of each input (an undefined Tensor for inputs that are not differentiable).
#pragma once

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/tensor.hpp"

namespace strata::test {

using Tensors = std::vector<Tensor>;

// Seeded source of test inputs: random shapes, values and memory layouts.
class InputMaker {
 public:
  explicit InputMaker(uint64_t seed) : rng_(seed) {}

  // How an input is laid out in memory. `any` picks one at random (seeded), so cases exercise
  // non-contiguous kernels paths without asking.
  enum class Layout { any, contiguous, transposed, strided };

  // Standard-normal values scaled by `scale`.
  Tensor normal(const Shape& shape, DType dtype, double scale = 1.0, Layout layout = Layout::any);
  // Uniform values in [low, high).
  Tensor uniform(const Shape& shape, DType dtype, double low, double high,
                 Layout layout = Layout::any);
  // Integers uniform in [low, high), in an integer (or any) dtype.
  Tensor integers(const Shape& shape, DType dtype, int64_t low, int64_t high,
                  Layout layout = Layout::contiguous);
  // Bool tensor, true with probability p.
  Tensor mask(const Shape& shape, double p = 0.5);

  // A random shape of rank in [min_rank, max_rank] with sizes in [1, max_size]; sometimes a dim
  // of size 1, and, when allow_empty, sometimes a dim of size 0.
  Shape shape(int min_rank, int max_rank, int64_t max_size, bool allow_empty = false);
  // b's shape broadcastable against a: some dims set to 1, some leading dims dropped.
  Shape broadcastable(const Shape& a);

  int64_t integer(int64_t low, int64_t high);  // uniform in [low, high]
  double real(double low, double high);
  bool coin(double p = 0.5);
  std::mt19937_64& rng() { return rng_; }

 private:
  Tensor place(const std::vector<double>& values, const Shape& shape, DType dtype, Layout layout);
  std::mt19937_64 rng_;
};

struct Tolerance {
  double rtol;
  double atol;
};
// Default forward tolerances: exact for integers and bool, then by float precision.
Tolerance default_tolerance(DType dtype);

struct OpCase {
  std::string op;       // a name from STRATA_CORE_OPS
  std::string variant;  // what this case exercises, for messages
  std::vector<DType> dtypes;
  std::function<Tensors(InputMaker&, DType)> make_inputs;
  std::function<Tensors(const Tensors&)> forward;
  std::function<Tensors(const Tensors&)> reference;
  std::function<Tensors(const Tensors& inputs, const Tensors& outputs, const Tensor& grad)>
      backward;
  int trials = 4;
  double tolerance_scale = 1.0;  // multiplies the default tolerances (for long accumulations)
  // Outputs compared against the reference: the first `compared_outputs` (-1: all).
  int compared_outputs = -1;
  bool cuda = true;  // false while the op has no CUDA kernel; the harness then says so
};

// Registers a case at static-initialisation time: `static const bool r = register_case({...});`
bool register_case(OpCase op_case);
const std::vector<OpCase>& registered_cases();

// Dtype sets cases commonly use.
inline const std::vector<DType> kFloatTypes = {DType::f32, DType::f64, DType::f16, DType::bf16};
inline const std::vector<DType> kNumericTypes = {DType::f32,  DType::f64, DType::f16,
                                                 DType::bf16, DType::i32, DType::i64};

// f64 contiguous CPU copy of a floating tensor, others unchanged (what `reference` receives).
Tensor to_reference(const Tensor& t);
// Element of a contiguous CPU tensor by multi-index, as double, for reference loops.
double at(const Tensor& t, const std::vector<int64_t>& index);

}  // namespace strata::test
