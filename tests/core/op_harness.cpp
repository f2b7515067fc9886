// The op harness's input maker, registry, and the test cases that run every registered case.
#include "op_harness.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "core/factories.hpp"
#include "core/op_list.hpp"

namespace strata::test {

// ---- inputs ---------------------------------------------------------------------------------

Tensor InputMaker::place(const std::vector<double>& values, const Shape& shape, DType dtype,
                         Layout layout) {
  Tensor dense = from_vector(values, shape).to(dtype);
  if (layout == Layout::any) {
    int pick = static_cast<int>(integer(0, 2));
    layout = pick == 0 ? Layout::contiguous : pick == 1 ? Layout::transposed : Layout::strided;
  }
  if (layout == Layout::transposed && dense.dim() >= 2) {
    // Store with the last two dims swapped, then view them back: same values, transposed strides.
    return dense.transpose(-1, -2).contiguous().transpose(-1, -2);
  }
  if (layout == Layout::strided && dense.dim() >= 1) {
    // Every other element of a tensor twice as long in the last dim.
    Shape wide = shape;
    wide.back() *= 2;
    Tensor host = zeros(wide, {dtype, Device::cpu()});
    Tensor view = host.slice(-1, 0, wide.back(), 2);
    view.copy_(dense);
    return view;
  }
  return dense;
}

Tensor InputMaker::normal(const Shape& shape, DType dtype, double scale, Layout layout) {
  std::normal_distribution<double> dist(0.0, scale);
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) v = dist(rng_);
  return place(values, shape, dtype, layout);
}

Tensor InputMaker::uniform(const Shape& shape, DType dtype, double low, double high,
                           Layout layout) {
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) v = dist(rng_);
  return place(values, shape, dtype, layout);
}

Tensor InputMaker::integers(const Shape& shape, DType dtype, int64_t low, int64_t high,
                            Layout layout) {
  std::uniform_int_distribution<int64_t> dist(low, high - 1);
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) v = static_cast<double>(dist(rng_));
  return place(values, shape, dtype, layout);
}

Tensor InputMaker::mask(const Shape& shape, double p) {
  std::bernoulli_distribution dist(p);
  std::vector<double> values(static_cast<size_t>(shape_numel(shape)));
  for (double& v : values) v = dist(rng_) ? 1.0 : 0.0;
  return place(values, shape, DType::boolean, Layout::contiguous);
}

Shape InputMaker::shape(int min_rank, int max_rank, int64_t max_size, bool allow_empty) {
  Shape s(static_cast<size_t>(integer(min_rank, max_rank)));
  for (int64_t& d : s) {
    double r = real(0, 1);
    d = r < 0.15 ? 1 : (allow_empty && r < 0.2) ? 0 : integer(1, max_size);
  }
  return s;
}

Shape InputMaker::broadcastable(const Shape& a) {
  Shape b = a;
  for (int64_t& d : b) {
    if (coin(0.3)) d = 1;
  }
  while (!b.empty() && coin(0.25)) b.erase(b.begin());
  return b;
}

int64_t InputMaker::integer(int64_t low, int64_t high) {
  return std::uniform_int_distribution<int64_t>(low, high)(rng_);
}
double InputMaker::real(double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(rng_);
}
bool InputMaker::coin(double p) { return std::bernoulli_distribution(p)(rng_); }

Tolerance default_tolerance(DType dtype) {
  switch (dtype) {
    case DType::f64: return {1e-10, 1e-10};
    case DType::f32: return {1e-5, 1e-5};
    case DType::f16: return {4e-3, 4e-3};
    case DType::bf16: return {2e-2, 2e-2};
    default: return {0, 0};
  }
}

// ---- registry -------------------------------------------------------------------------------

namespace {
std::vector<OpCase>& registry() {
  static std::vector<OpCase> cases;
  return cases;
}
}  // namespace

bool register_case(OpCase op_case) {
  registry().push_back(std::move(op_case));
  return true;
}
const std::vector<OpCase>& registered_cases() { return registry(); }

Tensor to_reference(const Tensor& t) {
  if (!t.defined()) return t;
  Tensor host = t.to(Device::cpu());
  if (is_floating(host.dtype())) host = host.to(DType::f64);
  return host.contiguous();
}

double at(const Tensor& t, const std::vector<int64_t>& index) {
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d) offset += index[d] * t.strides()[d];
  return STRATA_DISPATCH_ALL(t.dtype(), "at", [&] {
    return static_cast<double>(
        static_cast<compute_t<scalar_t>>(static_cast<scalar_t*>(t.data_ptr())[offset]));
  });
}

// ---- checks ---------------------------------------------------------------------------------

namespace {

std::string describe(const OpCase& c, DType dtype, Device device, int trial) {
  std::ostringstream out;
  out << c.op << " [" << c.variant << "] dtype " << dtype_name(dtype) << " on " << device.str()
      << ", trial " << trial;
  return out.str();
}

// Largest violation of |actual - expected| <= atol + rtol * |expected|, as a message, or "".
std::string compare(const Tensor& actual, const Tensor& expected, Tolerance tol, const char* what) {
  std::ostringstream out;
  if (!expected.defined())
    return actual.defined() ? std::string(what) + ": expected no tensor" : "";
  if (!actual.defined()) return std::string(what) + ": got no tensor";
  if (actual.shape() != expected.shape()) {
    out << what << ": shape " << shape_str(actual.shape()) << ", expected "
        << shape_str(expected.shape());
    return out.str();
  }
  std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    bool same_inf = std::isinf(e[i]) && a[i] == e[i];
    if (both_nan || same_inf) continue;
    if (!(std::abs(a[i] - e[i]) <= tol.atol + tol.rtol * std::abs(e[i]))) {
      out << what << ": element " << i << " is " << a[i] << ", expected " << e[i] << " (rtol "
          << tol.rtol << ", atol " << tol.atol << ", shape " << shape_str(expected.shape()) << ")";
      return out.str();
    }
  }
  return "";
}

Tensors move_to(const Tensors& tensors, Device device) {
  Tensors moved;
  for (const Tensor& t : tensors) moved.push_back(t.defined() ? t.to(device) : t);
  return moved;
}

// sum(output * grad) in f64, the scalar whose gradient the backward computes.
double weighted_sum(const Tensor& output, const std::vector<double>& grad) {
  std::vector<double> values = output.to_vector<double>();
  double total = 0;
  for (size_t i = 0; i < values.size(); ++i) total += values[i] * grad[i];
  return total;
}

void check_finite_differences(const OpCase& c, const Tensors& inputs64, InputMaker& maker,
                              const std::string& where) {
  Tensors outputs = c.forward(inputs64);
  Tensor grad = maker.normal(outputs[0].shape(), DType::f64, 1.0, InputMaker::Layout::contiguous);
  std::vector<double> grad_values = grad.to_vector<double>();
  Tensors analytic = c.backward(inputs64, outputs, grad);
  REQUIRE_MESSAGE(analytic.size() == inputs64.size(), where, ": backward returned ",
                  analytic.size(), " gradients for ", inputs64.size(), " inputs");
  constexpr double kEps = 1e-6;
  constexpr int kMaxProbes = 48;  // elements probed per input, chosen at random
  for (size_t k = 0; k < inputs64.size(); ++k) {
    if (!analytic[k].defined()) continue;
    REQUIRE_MESSAGE(analytic[k].shape() == inputs64[k].shape(), where, ": gradient of input ", k,
                    " has shape ", shape_str(analytic[k].shape()), ", expected ",
                    shape_str(inputs64[k].shape()));
    std::vector<double> expected = analytic[k].to_vector<double>();
    int64_t n = inputs64[k].numel();
    for (int probe = 0; probe < std::min<int64_t>(n, kMaxProbes); ++probe) {
      int64_t i = n <= kMaxProbes ? probe : maker.integer(0, n - 1);
      Tensors perturbed = inputs64;
      perturbed[k] = inputs64[k].clone();
      double* element = perturbed[k].data<double>() + i;
      double original = *element;
      *element = original + kEps;
      double plus = weighted_sum(c.forward(perturbed)[0], grad_values);
      *element = original - kEps;
      double minus = weighted_sum(c.forward(perturbed)[0], grad_values);
      double numeric = (plus - minus) / (2 * kEps);
      CHECK_MESSAGE(std::abs(numeric - expected[i]) <= 1e-5 + 1e-4 * std::abs(numeric), where,
                    ": d/d input ", k, "[", i, "]: backward gives ", expected[i],
                    ", finite differences give ", numeric);
    }
  }
}

std::vector<Device> devices_present() {
  std::vector<Device> devices = {Device::cpu()};
  if (cuda_is_available()) devices.push_back(Device::cuda(0));
  return devices;
}

}  // namespace

TEST_CASE("every core op has harness cases") {
  std::set<std::string> covered;
  for (const OpCase& c : registered_cases()) covered.insert(c.op);
  std::set<std::string> known;
#define STRATA_CHECK_COVERED(name) \
  known.insert(#name);             \
  CHECK_MESSAGE(covered.count(#name), "op '" #name "' has no case in the op harness");
  STRATA_CORE_OPS(STRATA_CHECK_COVERED)
#undef STRATA_CHECK_COVERED
  for (const std::string& name : covered) {
    CHECK_MESSAGE(known.count(name), "harness case for '", name,
                  "', which is not in core/op_list.hpp");
  }
}

TEST_CASE("ops match their references, forward and backward, on every device and dtype") {
  std::vector<Device> devices = devices_present();
  if (devices.size() == 1) MESSAGE("no CUDA device: op cases run on the CPU only");
  uint64_t seed = 1;
  for (const OpCase& c : registered_cases()) {
    for (int trial = 0; trial < c.trials; ++trial) {
      ++seed;
      for (DType dtype : c.dtypes) {
        InputMaker maker(seed);
        Tensors inputs = c.make_inputs(maker, dtype);
        Tensors reference_inputs;
        for (const Tensor& t : inputs) reference_inputs.push_back(to_reference(t));
        Tensors expected = c.reference(reference_inputs);

        // f64 backward on the CPU: the baseline for the other dtypes and devices.
        Tensors inputs64 = reference_inputs;
        Tensors outputs64, grads64;
        Tensor grad64;
        if (c.backward) {
          outputs64 = c.forward(inputs64);
          InputMaker grad_maker(seed * 7919);
          grad64 = grad_maker.normal(outputs64[0].shape(), DType::f64, 1.0,
                                     InputMaker::Layout::contiguous);
          grads64 = c.backward(inputs64, outputs64, grad64);
        }

        for (Device device : devices) {
          std::string where = describe(c, dtype, device, trial);
          if (device.is_cuda() && !c.cuda) {
            MESSAGE(where, ": skipped, the op has no CUDA kernel yet");
            continue;
          }
          Tensors device_inputs = move_to(inputs, device);
          Tensors outputs;
          try {
            outputs = c.forward(device_inputs);
          } catch (const Error& e) {
            FAIL_CHECK(where, ": forward threw: ", e.what());
            continue;
          }
          size_t compared = c.compared_outputs < 0 ? expected.size() : c.compared_outputs;
          for (size_t k = 0; k < compared; ++k) {
            REQUIRE_MESSAGE(k < outputs.size(), where, ": op returned ", outputs.size(),
                            " outputs, expected ", compared);
            CHECK_MESSAGE(outputs[k].device() == device, where, ": output on ",
                          outputs[k].device().str());
            Tolerance tol = default_tolerance(outputs[k].dtype());
            tol.rtol *= c.tolerance_scale;
            tol.atol *= c.tolerance_scale;
            std::string problem = compare(outputs[k], expected[k], tol, "forward output");
            CHECK_MESSAGE(problem.empty(), where, ": output ", k, ": ", problem);
          }
          if (!c.backward) continue;
          Tensors grads =
              c.backward(device_inputs, outputs, grad64.to(outputs[0].dtype()).to(device));
          for (size_t k = 0; k < grads64.size(); ++k) {
            Tolerance tol = default_tolerance(dtype);
            tol.rtol *= 2 * c.tolerance_scale;
            tol.atol *= 2 * c.tolerance_scale;
            std::string problem = compare(grads[k], grads64[k], tol, "gradient");
            CHECK_MESSAGE(problem.empty(), where, ": input ", k, ": ", problem);
          }
        }
        if (c.backward && dtype == DType::f64) {
          InputMaker fd_maker(seed * 104729);
          check_finite_differences(c, inputs64, fd_maker, describe(c, dtype, Device::cpu(), trial));
        }
      }
    }
  }
}

// Autograd: every op with backward kernels records itself, and backward through the recorded
// graph gives the backward kernels' gradients (which the test above checks against finite
// differences). Runs in f64 on the CPU.
TEST_CASE("every differentiable op records autograd and matches its backward kernels") {
  // copy_ and fill_ write in place: autograd rejects them on tensors that require grad.
  const std::set<std::string> in_place = {"copy", "fill"};
  uint64_t seed = 1;
  for (const OpCase& c : registered_cases()) {
    for (int trial = 0; trial < c.trials; ++trial) {
      ++seed;
      if (!c.backward || in_place.count(c.op)) continue;
      InputMaker maker(seed);
      DType dtype = c.dtypes.front();
      Tensors inputs64;
      for (const Tensor& t : c.make_inputs(maker, dtype)) inputs64.push_back(to_reference(t));
      Tensors outputs64 = c.forward(inputs64);
      InputMaker grad_maker(seed * 7919);
      Tensor grad64 =
          grad_maker.normal(outputs64[0].shape(), DType::f64, 1.0, InputMaker::Layout::contiguous);
      Tensors expected = c.backward(inputs64, outputs64, grad64);

      Tensors leaves;
      for (size_t k = 0; k < inputs64.size(); ++k) {
        Tensor leaf = inputs64[k].defined() ? inputs64[k].clone() : inputs64[k];
        if (k < expected.size() && expected[k].defined()) leaf.requires_grad_();
        leaves.push_back(leaf);
      }
      std::string where = describe(c, DType::f64, Device::cpu(), trial);
      Tensors outputs = c.forward(leaves);
      CHECK_MESSAGE(outputs[0].requires_grad(), where,
                    ": the op's output does not require grad: it records no autograd node");
      if (!outputs[0].requires_grad()) continue;
      outputs[0].backward(grad64);
      for (size_t k = 0; k < expected.size(); ++k) {
        if (!expected[k].defined()) continue;
        std::string problem =
            compare(leaves[k].grad(), expected[k], {1e-10, 1e-12}, "autograd gradient");
        CHECK_MESSAGE(problem.empty(), where, ": input ", k, ": ", problem);
      }
    }
  }
}

}  // namespace strata::test
