// CUDA indexing, embedding, pooling and convolution beyond the op harness's parity cases:
//   - an out-of-range index or id on CUDA does not make the op wait for the device; it is raised
//     as a strata::Error naming the op at the next synchronisation, and the device stays usable;
//   - the grouped sums (index_select_backward, embedding_backward, scatter_add) and top-k on rows
//     as long as GPT-2's vocabulary give the CPU's bits;
//   - cuDNN's convolution backward is deterministic (the same bits on every run);
//   - multinomial on CUDA draws the CPU's classes and checks the probabilities on the device.
// Without a CUDA device every test case says so and checks nothing.
#include <doctest/doctest.h>

#include "test_support.hpp"

#include <functional>
#include <string>
#include <vector>

#include "core/conv.hpp"
#include "core/device.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/nn_ops.hpp"
#include "core/random.hpp"

using namespace strata;
using strata::test::contains;
using strata::test::error_of;

namespace {

const Device kGpu = Device::cuda(0);

bool skip_without_gpu() {
  if (cuda_is_available()) return false;
  MESSAGE("no CUDA device: this CUDA test checks nothing in this run");
  return true;
}

// Runs op (which must not throw: the indices are checked on the device), then returns the message
// of the error raised at the next synchronisation.
std::string error_at_sync(const std::function<void()>& op) {
  op();
  return error_of([] { cuda_synchronize(); });
}

// Bitwise equality of a CUDA result with a CPU one.
bool same_bits(const Tensor& gpu, const Tensor& cpu) {
  return gpu.shape() == cpu.shape() && gpu.dtype() == cpu.dtype() &&
         gpu.to(Device::cpu()).to_vector<double>() == cpu.to_vector<double>();
}

Tensor on_gpu(std::vector<int64_t> values) { return from_vector(values).to(kGpu); }

}  // namespace

TEST_CASE("CUDA: out-of-range indices are raised at the next synchronisation, naming the op") {
  if (skip_without_gpu()) return;
  Tensor x = randn({4, 5}).to(kGpu);
  Tensor bad = on_gpu({0, 5, 1});
  CHECK(contains(error_at_sync([&] { index_select(x, 1, bad); }),
                 "index_select: index 5 at flat position 1 is out of range"));
  CHECK(contains(error_at_sync([&] {
                   index_select_backward(ones({4, 3}).to(kGpu), {4, 5}, 1, bad);
                 }),
                 "index_select_backward: index 5 at flat position 1"));
  Tensor index = from_vector(std::vector<int32_t>{0, 1, -2, 2}, {4, 1}).to(kGpu);
  CHECK(
      contains(error_at_sync([&] { gather(x, 0, index); }), "gather: index -2 at flat position 2"));
  Tensor src = ones({4, 1}).to(kGpu);
  CHECK(contains(error_at_sync([&] { scatter(x, 0, index, src); }), "scatter: index -2"));
  CHECK(contains(error_at_sync([&] { scatter_add(x, 0, index, src); }), "scatter_add: index -2"));

  Tensor weight = randn({6, 3}).to(kGpu);
  Tensor ids = on_gpu({1, 2, 9, 0});
  CHECK(contains(error_at_sync([&] { embedding(weight, ids); }),
                 "embedding: id 9 at flat position 2 is out of range"));
  CHECK(contains(error_at_sync([&] {
                   embedding_backward(ones({4, 3}).to(kGpu), ids, 6);
                 }),
                 "embedding_backward: id 9 at flat position 2"));

  Tensor grad = ones({1, 1, 2, 2}).to(kGpu);
  Tensor pool_indices = from_vector(std::vector<int64_t>{0, 3, 16, 1}, {1, 1, 2, 2}).to(kGpu);
  CHECK(contains(error_at_sync([&] {
                   max_pool2d_backward(grad, pool_indices, {1, 1, 4, 4});
                 }),
                 "max_pool2d_backward: index 16 at flat position 2"));

  // A copy to the host is a synchronisation point too.
  CHECK(contains(error_of([&] { index_select(x, 0, on_gpu({7})).to(Device::cpu()); }),
                 "index_select: index 7"));

  // The error was cleared and the device still works.
  cuda_synchronize();
  Tensor good = on_gpu({4, 0, 4});
  CHECK(
      same_bits(index_select(x, 1, good),
                index_select(x.to(Device::cpu()), 1, from_vector(std::vector<int64_t>{4, 0, 4}))));
}

TEST_CASE("CUDA: grouped sums and long top-k rows give the CPU's bits") {
  if (skip_without_gpu()) return;
  Generator gen(7);
  // Many repeats per id, so each output sums a long run in a fixed order.
  Tensor ids = randint(0, 50, {8, 64}, {DType::i64}, gen);
  Tensor grad = randn({8, 64, 33}, {DType::f32}, gen);
  CHECK(same_bits(embedding_backward(grad.to(kGpu), ids.to(kGpu), 50),
                  embedding_backward(grad, ids, 50)));
  Tensor rows = ids.reshape({-1});
  Tensor grad2 = randn({3, 512, 5}, {DType::f32}, gen);
  CHECK(same_bits(index_select_backward(grad2.to(kGpu), {3, 50, 5}, 1, rows.to(kGpu)),
                  index_select_backward(grad2, {3, 50, 5}, 1, rows)));
  Tensor cols = randint(0, 7, {40, 300}, {DType::i32}, gen);
  Tensor values = randn({40, 300}, {DType::f32}, gen);
  CHECK(same_bits(scatter_add(zeros({40, 7}).to(kGpu), 1, cols.to(kGpu), values.to(kGpu)),
                  scatter_add(zeros({40, 7}), 1, cols, values)));

  // GPT-2's padded vocabulary: rows longer than a block, with ties from bf16 rounding.
  for (DType dtype : {DType::f32, DType::bf16}) {
    Tensor logits = randn({3, 50304}, {DType::f32}, gen).to(dtype);
    for (bool sorted : {true, false}) {
      ValuesIndices cpu = topk(logits, 50, -1, true, sorted);
      ValuesIndices gpu = topk(logits.to(kGpu), 50, -1, true, sorted);
      CHECK(same_bits(gpu.values, cpu.values));
      CHECK(same_bits(gpu.indices, cpu.indices));
    }
  }
}

TEST_CASE("CUDA: cuDNN convolution backward gives the same bits on every run") {
  if (skip_without_gpu()) return;
  Generator gen(11);
  Tensor x = randn({8, 16, 14, 14}, {DType::f32}, gen).to(kGpu);
  Tensor weight = randn({32, 16, 3, 3}, {DType::f32}, gen).to(kGpu);
  Tensor grad = randn({8, 32, 14, 14}, {DType::f32}, gen).to(kGpu);
  Conv2dParams params;
  params.padding = {1, 1};
  Conv2dGrads first = conv2d_backward(grad, x, weight, true, params);
  for (int run = 0; run < 3; ++run) {
    Conv2dGrads again = conv2d_backward(grad, x, weight, true, params);
    CHECK(same_bits(again.input, first.input.to(Device::cpu())));
    CHECK(same_bits(again.weight, first.weight.to(Device::cpu())));
    CHECK(same_bits(again.bias, first.bias.to(Device::cpu())));
  }
}

TEST_CASE("CUDA: multinomial draws the CPU's classes and checks probabilities on the device") {
  if (skip_without_gpu()) return;
  Generator gen(5);
  Tensor probs = rand({3, 50304}, {DType::f32}, gen);
  for (bool replacement : {true, false}) {
    Generator cpu_gen(9), gpu_gen(9);
    Tensor cpu = multinomial(probs, 20, replacement, cpu_gen);
    Tensor gpu = multinomial(probs.to(kGpu), 20, replacement, gpu_gen);
    CHECK(same_bits(gpu, cpu));
  }
  Tensor bad = from_vector(std::vector<float>{0.5f, -1.0f, 0.5f, 1.0f}, {2, 2}).to(kGpu);
  CHECK(contains(error_at_sync([&] { multinomial(bad, 1, true); }),
                 "multinomial: negative, NaN or infinite probability at flat position 1"));
  Tensor empty_row = from_vector(std::vector<float>{0.5f, 0.5f, 0.0f, 0.0f}, {2, 2}).to(kGpu);
  CHECK(contains(error_at_sync([&] { multinomial(empty_row, 1, true); }),
                 "multinomial: no probability mass (all zeros) in row 1"));
  Tensor sparse = from_vector(std::vector<float>{0.5f, 0.5f, 0.0f, 1.0f}, {2, 2}).to(kGpu);
  CHECK(contains(error_at_sync([&] { multinomial(sparse, 2, false); }),
                 "multinomial: fewer classes with non-zero probability than the samples requested "
                 "without replacement in row 1"));
  cuda_synchronize();  // the device stays usable
  CHECK(multinomial(sparse, 1, false).to(Device::cpu()).to_vector<int64_t>()[1] == 1);
}
