// Process groups on CUDA tensors, under mpirun (1 and 2 ranks): every collective on every dtype
// against the serial reference (parallel_test_values.hpp), stream ordering of asynchronous calls,
// send/recv, sub-groups, the mismatch check and misuse errors, for each backend that can run:
//   - the MPI group, staging CUDA tensors through pinned host memory: at any rank count, several
//     ranks sharing one GPU included;
//   - the NCCL group, where this build has NCCL and each rank of the node has its own GPU (NCCL
//     refuses two ranks of a communicator on one device): 1 rank on a 1-GPU machine, both counts
//     with 2 GPUs or more.
// Without a visible GPU every case says so (MESSAGE) and passes, as the op harness does.
//
// NCCL reduces 16-bit floats step by step and averages floats by multiplying each input by
// 1/size(): with these inputs at 1 and 2 ranks both are exact, so NCCL's results equal the
// reference bit for bit too.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/cuda_memory.hpp"
#include "core/device.hpp"
#include "core/elementwise.hpp"
#include "core/factories.hpp"
#include "parallel/dist.hpp"
#include "parallel/world_group.hpp"
#include "parallel_test_values.hpp"

using namespace strata;
using dist::ReduceOp;
using namespace strata::test;

namespace {

constexpr DType kDTypes[] = {DType::f32,  DType::f64, DType::f16,
                             DType::bf16, DType::i32, DType::i64};
// 0, 1, odd, and (1 << 19) + 3 elements: > 1 MiB in every dtype of kDTypes.
constexpr int64_t kSizes[] = {0, 1, 1001, (int64_t{1} << 19) + 3};

Device gpu() { return Device::cuda(cuda::current_device()); }

Tensor gpu_tensor(const std::vector<double>& values, DType dtype) {
  return tensor_of(values, dtype).to(gpu());
}

// Whether this rank can use NCCL; the same answer on every rank of this one-node job.
bool nccl_runs() { return dist::nccl_available() && dist::local_size() <= cuda_device_count(); }

// The groups under test, created once (collectively) on first use; empty without a GPU.
const std::vector<std::shared_ptr<dist::ProcessGroup>>& groups() {
  static const std::vector<std::shared_ptr<dist::ProcessGroup>> all = [] {
    std::vector<std::shared_ptr<dist::ProcessGroup>> made;
    if (!cuda_is_available()) return made;
    made.push_back(dist::create_world_group(dist::Backend::mpi));
    if (nccl_runs()) made.push_back(dist::create_world_group(dist::Backend::nccl));
    return made;
  }();
  return all;
}

// True (after saying why) when there is nothing to run here.
bool skipped() {
  if (!cuda_is_available()) {
    MESSAGE("no CUDA device: CUDA process group cases skipped");
    return true;
  }
  if (!nccl_runs()) {
    std::string why =
        dist::nccl_available() ? "NCCL needs a GPU per rank" : "no NCCL in this build";
    MESSAGE(why, ": ", dist::local_size(), " rank(s), ", cuda_device_count(),
            " GPU(s); NCCL cases skipped, the MPI group's run");
  }
  return false;
}

}  // namespace

TEST_CASE("the groups: MPI always, NCCL where each rank has a GPU, automatic picks NCCL there") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    CHECK(group->rank() == dist::rank());
    CHECK(group->size() == dist::world_size());
  }
  CHECK(groups()[0]->backend() == "mpi");
  if (nccl_runs()) CHECK(groups()[1]->backend() == "nccl");
  auto automatic = dist::create_world_group(dist::Backend::automatic, gpu());
  CHECK(automatic->backend() == (nccl_runs() ? "nccl" : "mpi"));
  CHECK(dist::create_world_group(dist::Backend::automatic, Device::cpu())->backend() == "mpi");
}

TEST_CASE("allreduce sum, avg and max of CUDA tensors equal the serial reference") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    uint64_t seed = 1;
    for (DType dtype : kDTypes)
      for (int64_t n : kSizes)
        for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
          CAPTURE(group->backend());
          CAPTURE(dtype_name(dtype));
          CAPTURE(n);
          CAPTURE(reduce_op_name(op));
          Tensor t = gpu_tensor(input_values(++seed, group->rank(), n, dtype), dtype);
          group->allreduce(t, op);
          CHECK(mismatches(t, reference(seed, group->size(), n, dtype, op)) == 0);
        }
    // bool: sum and max are logical or.
    Tensor flags = full({4}, group->rank() == group->size() - 1, DType::boolean).to(gpu());
    group->allreduce(flags, ReduceOp::sum);
    for (int32_t b : flags.to(Device::cpu()).to(DType::i32).to_vector<int32_t>()) CHECK(b == 1);
    CHECK_THROWS_WITH(group->allreduce(flags, ReduceOp::avg),
                      doctest::Contains("avg is not defined on bool"));
  }
}

TEST_CASE("reduce_scatter of CUDA tensors, out of place and in place") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    int p = group->size(), me = group->rank();
    uint64_t seed = 1000;
    for (DType dtype : kDTypes)
      for (int64_t chunk : {int64_t{0}, int64_t{1}, int64_t{1001}, kSizes[3] / p})
        for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
          CAPTURE(group->backend());
          CAPTURE(dtype_name(dtype));
          CAPTURE(chunk);
          CAPTURE(reduce_op_name(op));
          Tensor input = gpu_tensor(input_values(++seed, me, chunk * p, dtype), dtype);
          Tensor output = empty({chunk}, TensorOptions(dtype, gpu()));
          group->reduce_scatter(output, input, op);
          std::vector<double> all = reference(seed, p, chunk * p, dtype, op);
          CHECK(mismatches(output, {all.begin() + me * chunk, all.begin() + (me + 1) * chunk}) ==
                0);
        }
    int64_t chunk = 1001;
    Tensor input = gpu_tensor(input_values(77, me, chunk * p, DType::f32), DType::f32);
    Tensor output = input.slice(0, me * chunk, (me + 1) * chunk);
    group->reduce_scatter(output, input);
    std::vector<double> all = reference(77, p, chunk * p, DType::f32, ReduceOp::sum);
    CAPTURE(group->backend());
    CHECK(mismatches(output, {all.begin() + me * chunk, all.begin() + (me + 1) * chunk}) == 0);
  }
}

TEST_CASE("allgather of CUDA tensors: every dtype and size, in place, bool") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    int p = group->size(), me = group->rank();
    uint64_t seed = 2000;
    for (DType dtype : kDTypes)
      for (int64_t n : kSizes) {
        CAPTURE(group->backend());
        CAPTURE(dtype_name(dtype));
        CAPTURE(n);
        Tensor input = gpu_tensor(input_values(++seed, me, n, dtype), dtype);
        Tensor output = empty({p * n}, TensorOptions(dtype, gpu()));
        group->allgather(output, input);
        std::vector<double> want;
        for (int r = 0; r < p; ++r) {
          std::vector<double> part = input_values(seed, r, n, dtype);
          want.insert(want.end(), part.begin(), part.end());
        }
        CHECK(mismatches(output, want) == 0);
      }
    CAPTURE(group->backend());
    Tensor output = zeros({p * 3}, TensorOptions(DType::i64, gpu()));
    Tensor slot = output.slice(0, me * 3, me * 3 + 3);
    slot.fill_(me + 1);  // a kernel on the current stream, which the collective must follow
    group->allgather(output, slot);
    std::vector<int64_t> got = output.to(Device::cpu()).to_vector<int64_t>();
    for (int r = 0; r < p; ++r)
      for (int j = 0; j < 3; ++j) CHECK(got[r * 3 + j] == r + 1);
    Tensor flags = full({2}, me % 2, DType::boolean).to(gpu());
    Tensor all_flags = empty({2 * p}, TensorOptions(DType::boolean, gpu()));
    group->allgather(all_flags, flags);
    std::vector<int32_t> bits = all_flags.to(Device::cpu()).to(DType::i32).to_vector<int32_t>();
    for (int r = 0; r < p; ++r) CHECK(bits[2 * r] == (r % 2 == 1));
  }
}

TEST_CASE("broadcast of CUDA tensors from the first and the last rank") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    int p = group->size(), me = group->rank();
    uint64_t seed = 3000;
    for (DType dtype : kDTypes)
      for (int64_t n : kSizes)
        for (int root : {0, p - 1}) {
          CAPTURE(group->backend());
          CAPTURE(dtype_name(dtype));
          CAPTURE(n);
          CAPTURE(root);
          Tensor t = gpu_tensor(input_values(++seed, me, n, dtype), dtype);
          group->broadcast(t, root);
          CHECK(mismatches(t, input_values(seed, root, n, dtype)) == 0);
        }
  }
}

TEST_CASE("async calls follow the kernels before them, and wait() orders the kernels after") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    CAPTURE(group->backend());
    int p = group->size();
    // Written by kernels just before each call, read by kernels just after wait(); nothing in
    // between synchronises the host with the device.
    int64_t n = int64_t{1} << 22;
    Tensor big = empty({n}, TensorOptions(DType::f32, gpu()));
    big.fill_(group->rank() + 1.0);
    Tensor small = empty({1001}, TensorOptions(DType::bf16, gpu()));
    small.fill_(1.0);
    auto work_big = group->allreduce_async(big, ReduceOp::sum);
    auto work_small = group->allreduce_async(small, ReduceOp::avg);
    auto work_barrier = group->barrier_async();
    CHECK(work_small->sequence_number() == work_big->sequence_number() + 1);
    CHECK(work_barrier->sequence_number() == work_big->sequence_number() + 2);
    work_big->wait();
    work_small->wait();
    Tensor doubled = mul(big, big);  // queued after wait(): sees the sum
    work_barrier->wait();
    float sum = p * (p + 1) / 2.0f;
    std::vector<float> got = doubled.to(Device::cpu()).to_vector<float>();
    CHECK(got.front() == sum * sum);
    CHECK(got.back() == sum * sum);
    for (double v : small.to(Device::cpu()).to(DType::f64).to_vector<double>()) CHECK(v == 1.0);
    cuda_synchronize();
    CHECK(work_big->is_completed());
    CHECK(work_small->is_completed());
    CHECK(work_barrier->is_completed());
    // A Work dropped without wait(): the tensor it held is freed only after the collective.
    {
      Tensor scratch = full({1 << 20}, 1.0, TensorOptions(DType::f32, gpu()));
      group->allreduce_async(scratch, ReduceOp::sum);
    }
    Tensor reused = full({1 << 20}, 3.0, TensorOptions(DType::f32, gpu()));
    for (float v : reused.to(Device::cpu()).to_vector<float>()) REQUIRE(v == 3.0f);
  }
}

TEST_CASE("send/recv of CUDA tensors between neighbours, both directions") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    int p = group->size(), me = group->rank();
    if (p < 2) {
      MESSAGE(group->backend(), ": send/recv needs 2 ranks; skipped at 1");
      continue;
    }
    int next = (me + 1) % p, prev = (me + p - 1) % p;
    uint64_t seed = 5000;
    for (DType dtype : kDTypes)
      for (int64_t n : kSizes) {
        CAPTURE(group->backend());
        CAPTURE(dtype_name(dtype));
        CAPTURE(n);
        ++seed;
        Tensor out = gpu_tensor(input_values(seed, me, n, dtype), dtype);
        Tensor in = empty({n}, TensorOptions(dtype, gpu()));
        // Even ranks send first, odd ranks receive first: NCCL's send waits for its receive.
        std::shared_ptr<dist::Work> sent, received;
        if (me % 2 == 0) {
          sent = group->send_async(out, next, 7);
          received = group->recv_async(in, prev, 7);
        } else {
          received = group->recv_async(in, prev, 7);
          sent = group->send_async(out, next, 7);
        }
        sent->wait();
        received->wait();
        CHECK(mismatches(in, input_values(seed, prev, n, dtype)) == 0);
      }
  }
}

TEST_CASE("sub-groups of CUDA groups: every rank, in reverse order") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    CAPTURE(group->backend());
    int p = group->size(), me = group->rank();
    std::vector<int> reversed;
    for (int r = p - 1; r >= 0; --r) reversed.push_back(r);
    uint64_t before = group->sequence_number();
    std::shared_ptr<dist::ProcessGroup> sub = group->new_group(reversed);
    CHECK(group->sequence_number() == before + 1);
    REQUIRE(sub != nullptr);
    CHECK(sub->backend() == group->backend());
    CHECK(sub->world_ranks() == reversed);
    CHECK(sub->rank() == p - 1 - me);
    Tensor gathered = empty({p}, TensorOptions(DType::i32, gpu()));
    sub->allgather(gathered, full({1}, me, TensorOptions(DType::i32, gpu())));
    std::vector<int32_t> got = gathered.to(Device::cpu()).to_vector<int32_t>();
    CHECK(std::vector<int>(got.begin(), got.end()) == reversed);
    std::shared_ptr<dist::ProcessGroup> only_first = group->new_group({0});
    CHECK((only_first != nullptr) == (me == 0));
    if (only_first) {
      Tensor t = full({3}, 5, TensorOptions(DType::i64, gpu()));
      only_first->allreduce(t);
      CHECK(t.to(Device::cpu()).to_vector<int64_t>()[0] == 5);
    }
  }
}

TEST_CASE("mismatched calls on CUDA tensors are an error naming each rank's call") {
  if (skipped()) return;
  if (dist::world_size() < 2) {
    MESSAGE("the mismatch check needs 2 ranks; skipped at 1");
    return;
  }
  std::vector<dist::Backend> backends = {dist::Backend::mpi};
  if (nccl_runs()) backends.push_back(dist::Backend::nccl);
  for (dist::Backend backend : backends) {
    auto group = dist::create_world_group(backend);  // fresh: its first allreduce is checked
    CAPTURE(group->backend());
    int me = group->rank();
    Tensor t = zeros({me == 0 ? 10 : 11}, TensorOptions(DType::f32, gpu()));
    std::string message;
    try {
      group->allreduce(t);
    } catch (const Error& e) {
      message = e.what();
    }
    CHECK(message.find("ProcessGroup(" + std::string(group->backend()) +
                       ") allreduce: the ranks' calls do not match") != std::string::npos);
    CHECK(message.find("rank 0: allreduce(sum) f32 [10], call 0") != std::string::npos);
    CHECK(message.find("rank 1: allreduce(sum) f32 [11], call 0") != std::string::npos);
    group->barrier();  // still usable
  }
}

TEST_CASE("misuse of CUDA groups is an error naming the op") {
  if (skipped()) return;
  for (const auto& group : groups()) {
    CAPTURE(group->backend());
    Tensor strided = zeros({4, 4}, TensorOptions(DType::f32, gpu())).transpose(0, 1);
    CHECK_THROWS_WITH(group->allreduce(strided),
                      doctest::Contains("allreduce: the tensor of shape [4, 4] is not contiguous"));
    if (group->backend() == "nccl")
      CHECK_THROWS_WITH(group->allreduce(zeros({4})),
                        doctest::Contains("this NCCL group takes tensors on cuda:"));
  }
}
