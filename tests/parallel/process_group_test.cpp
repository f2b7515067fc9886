// MpiProcessGroup under mpirun (2, 3 and 4 ranks): every collective on every dtype and on sizes 0,
// 1, odd and > 1 MiB against a serial reference that each rank computes from every rank's seeded
// inputs; asynchronous calls that complete while the caller computes; send/recv in a ring;
// sub-groups (new_group, a 2x2 topology at 4 ranks); 16-bit sums accumulated in f32; the
// cross-rank mismatch check (element counts, dtypes and ops that differ across ranks).
//
// Inputs and references: parallel_test_values.hpp.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "core/factories.hpp"
#include "core/linalg.hpp"
#include "parallel/dist.hpp"
#include "parallel/mpi_process_group.hpp"
#include "parallel/topology.hpp"
#include "parallel_test_values.hpp"

using namespace strata;
using dist::ReduceOp;
using namespace strata::test;

namespace {

std::shared_ptr<dist::MpiProcessGroup> world_group() {
  static std::shared_ptr<dist::MpiProcessGroup> group = dist::MpiProcessGroup::create_world();
  return group;
}

constexpr DType kDTypes[] = {DType::f32,  DType::f64, DType::f16,
                             DType::bf16, DType::i32, DType::i64};
// 0, 1, odd, and (1 << 19) + 3 elements: > 1 MiB in every dtype of kDTypes.
constexpr int64_t kSizes[] = {0, 1, 1001, (int64_t{1} << 19) + 3};

}  // namespace

TEST_CASE("the world group matches dist's world") {
  auto group = world_group();
  CHECK(group->rank() == dist::rank());
  CHECK(group->size() == dist::world_size());
  CHECK(group->backend() == "mpi");
  for (int r = 0; r < group->size(); ++r) CHECK(group->world_ranks()[r] == r);
}

TEST_CASE("allreduce sum, avg and max on every dtype and size equal the serial reference") {
  auto group = world_group();
  uint64_t seed = 1;
  for (DType dtype : kDTypes)
    for (int64_t n : kSizes)
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(n);
        CAPTURE(reduce_op_name(op));
        Tensor t = tensor_of(input_values(++seed, group->rank(), n, dtype), dtype);
        group->allreduce(t, op);
        CHECK(mismatches(t, reference(seed, group->size(), n, dtype, op)) == 0);
      }
}

TEST_CASE("reduce_scatter gives each rank the reduction of its chunk") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  uint64_t seed = 1000;
  for (DType dtype : kDTypes)
    for (int64_t chunk : {int64_t{0}, int64_t{1}, int64_t{1001}, kSizes[3] / p})
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(chunk);
        CAPTURE(reduce_op_name(op));
        Tensor input = tensor_of(input_values(++seed, me, chunk * p, dtype), dtype);
        Tensor output = empty({chunk}, dtype);
        group->reduce_scatter(output, input, op);
        std::vector<double> all = reference(seed, p, chunk * p, dtype, op);
        std::vector<double> mine(all.begin() + me * chunk, all.begin() + (me + 1) * chunk);
        CHECK(mismatches(output, mine) == 0);
      }
}

TEST_CASE("reduce_scatter in place: the output is this rank's chunk of the input") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  int64_t chunk = 1001;
  Tensor input = tensor_of(input_values(77, me, chunk * p, DType::f32), DType::f32);
  Tensor output = input.slice(0, me * chunk, (me + 1) * chunk);
  group->reduce_scatter(output, input);
  std::vector<double> all = reference(77, p, chunk * p, DType::f32, ReduceOp::sum);
  CHECK(mismatches(output, {all.begin() + me * chunk, all.begin() + (me + 1) * chunk}) == 0);
}

TEST_CASE("allgather lays every rank's input end to end, on every dtype and size") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  uint64_t seed = 2000;
  for (DType dtype : kDTypes)
    for (int64_t n : kSizes) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(n);
      Tensor input = tensor_of(input_values(++seed, me, n, dtype), dtype);
      Tensor output = empty({p * n}, dtype);
      group->allgather(output, input);
      std::vector<double> want;
      for (int r = 0; r < p; ++r) {
        std::vector<double> part = input_values(seed, r, n, dtype);
        want.insert(want.end(), part.begin(), part.end());
      }
      CHECK(mismatches(output, want) == 0);
    }
  // In place: the input is this rank's slot of the output. And bool, moved as bytes.
  Tensor output = zeros({p * 3}, DType::i64);
  Tensor slot = output.slice(0, me * 3, me * 3 + 3);
  slot.fill_(me + 1);
  group->allgather(output, slot);
  std::vector<int64_t> got = output.to_vector<int64_t>();
  for (int r = 0; r < p; ++r)
    for (int j = 0; j < 3; ++j) CHECK(got[r * 3 + j] == r + 1);
  Tensor flags = full({2}, me % 2, DType::boolean);
  Tensor all_flags = empty({2 * p}, DType::boolean);
  group->allgather(all_flags, flags);
  std::vector<int32_t> bits = all_flags.to(DType::i32).to_vector<int32_t>();
  for (int r = 0; r < p; ++r) CHECK(bits[2 * r] == (r % 2 == 1));
}

TEST_CASE("broadcast copies the root's tensor to every rank, on every dtype and size") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  uint64_t seed = 3000;
  for (DType dtype : kDTypes)
    for (int64_t n : kSizes)
      for (int root : {0, p - 1}) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(n);
        CAPTURE(root);
        Tensor t = tensor_of(input_values(++seed, me, n, dtype), dtype);
        group->broadcast(t, root);
        CHECK(mismatches(t, input_values(seed, root, n, dtype)) == 0);
      }
}

TEST_CASE("16-bit sums accumulate in f32: small terms are not lost against a large one") {
  // Rank 0 holds 2048 (f16) or 256 (bf16), every other rank 0.75: below half the spacing of the
  // large value (2), so a 16-bit running sum would stay at the large value; f32 gives
  // large + 0.75 (p - 1), rounded once.
  auto group = world_group();
  int p = group->size();
  for (DType dtype : {DType::f16, DType::bf16}) {
    double large = dtype == DType::f16 ? 2048 : 256;
    Tensor t = full({5}, group->rank() == 0 ? large : 0.75, dtype);
    group->allreduce(t);
    double want = full({1}, large + 0.75 * (p - 1), DType::f32).to(dtype).item<double>();
    CAPTURE(dtype_name(dtype));
    for (double v : t.to(DType::f64).to_vector<double>()) CHECK(v == want);
    if (p >= 3) CHECK(want > large);
  }
}

TEST_CASE("bool allreduce: sum and max are logical or; avg is an error") {
  auto group = world_group();
  Tensor t = full({4}, group->rank() == group->size() - 1, DType::boolean);
  group->allreduce(t, ReduceOp::max);
  for (int32_t b : t.to(DType::i32).to_vector<int32_t>()) CHECK(b == 1);
  Tensor none = zeros({4}, DType::boolean);
  group->allreduce(none, ReduceOp::sum);
  for (int32_t b : none.to(DType::i32).to_vector<int32_t>()) CHECK(b == 0);
  CHECK_THROWS_WITH(group->allreduce(none, ReduceOp::avg),
                    doctest::Contains("avg is not defined on bool"));
}

TEST_CASE("asynchronous calls complete while the caller computes, without calling wait") {
  auto group = world_group();
  int p = group->size();
  // 4M f32 (16 MiB) plus smaller calls queued behind it; they finish in order.
  int64_t n = int64_t{1} << 22;
  Tensor big = full({n}, group->rank() + 1.0, DType::f32);
  Tensor small = full({1001}, 1.0, DType::bf16);
  auto start = std::chrono::steady_clock::now();
  auto work_big = group->allreduce_async(big, ReduceOp::sum);
  auto work_small = group->allreduce_async(small, ReduceOp::avg);
  auto work_barrier = group->barrier_async();
  CHECK(work_small->sequence_number() == work_big->sequence_number() + 1);
  // The caller computes and never enters MPI; the collectives must finish meanwhile.
  double acc = 0;
  int64_t rounds = 0;
  while (!work_barrier->is_completed() &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(20)) {
    for (int i = 1; i < 100000; ++i) acc += 1.0 / i;
    ++rounds;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("16 MiB allreduce + 2 calls done in ", seconds, " s while the caller ran ", rounds,
          " rounds of work (", acc, ")");
  CHECK(work_barrier->is_completed());
  CHECK(work_big->is_completed());  // calls on one group run in order
  CHECK(work_small->is_completed());
  work_big->wait();
  work_small->wait();
  work_barrier->wait();
  float want = p * (p + 1) / 2.0f;
  std::vector<float> got = big.to_vector<float>();
  CHECK(got.front() == want);
  CHECK(got.back() == want);
  for (double v : small.to(DType::f64).to_vector<double>()) CHECK(v == 1.0);
}

TEST_CASE("async calls of every kind interleave with computation and keep their order") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  std::vector<std::shared_ptr<dist::Work>> works;
  std::vector<Tensor> sums;
  for (DType dtype : kDTypes) {
    sums.push_back(tensor_of(input_values(4000, me, 1001, dtype), dtype));
    works.push_back(group->allreduce_async(sums.back(), ReduceOp::sum));
  }
  Tensor gathered = empty({p * 1001}, DType::f64);
  Tensor mine = tensor_of(input_values(4001, me, 1001, DType::f64), DType::f64);
  works.push_back(group->allgather_async(gathered, mine));
  Tensor from_root = tensor_of(input_values(4002, me, 1001, DType::i32), DType::i32);
  works.push_back(group->broadcast_async(from_root, p - 1));
  Tensor product = matmul(randn({64, 64}), randn({64, 64}));  // work between launch and wait
  CHECK(product.numel() == 64 * 64);
  for (auto& w : works) w->wait();
  for (size_t d = 0; d < std::size(kDTypes); ++d) {
    CAPTURE(dtype_name(kDTypes[d]));
    CHECK(mismatches(sums[d], reference(4000, p, 1001, kDTypes[d], ReduceOp::sum)) == 0);
  }
  std::vector<double> want;
  for (int r = 0; r < p; ++r) {
    std::vector<double> part = input_values(4001, r, 1001, DType::f64);
    want.insert(want.end(), part.begin(), part.end());
  }
  CHECK(mismatches(gathered, want) == 0);
  CHECK(mismatches(from_root, input_values(4002, p - 1, 1001, DType::i32)) == 0);
}

TEST_CASE("send/recv in a ring, every dtype, small and large, both directions at once") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  int next = (me + 1) % p, prev = (me + p - 1) % p;
  uint64_t seed = 5000;
  for (DType dtype : kDTypes)
    for (int64_t n : kSizes) {
      CAPTURE(dtype_name(dtype));
      CAPTURE(n);
      ++seed;
      Tensor out = tensor_of(input_values(seed, me, n, dtype), dtype);
      Tensor in = empty({n}, dtype);
      // Every rank sends before it receives: only separate send and receive lanes make this work.
      auto sent = group->send_async(out, next, 7);
      auto received = group->recv_async(in, prev, 7);
      sent->wait();
      received->wait();
      CHECK(mismatches(in, input_values(seed, prev, n, dtype)) == 0);
    }
  // A message of another size is received and reported, naming both sizes.
  if (me == 0) group->send(zeros({10}), 1, 9);
  if (me == 1)
    CHECK_THROWS_WITH(group->recv(zeros({11}), 0, 9),
                      doctest::Contains("rank 0 sent 40 bytes with tag 9, but the receiving tensor "
                                        "(f32 [11]) holds 44"));
  group->barrier();
}

TEST_CASE("new_group: the listed ranks, in the listed order; null elsewhere") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  // The odd ranks, from the highest down.
  std::vector<int> odd;
  for (int r = p - 1; r >= 0; --r)
    if (r % 2 == 1) odd.push_back(r);
  uint64_t before = group->sequence_number();
  std::shared_ptr<dist::ProcessGroup> sub = group->new_group(odd);
  CHECK(group->sequence_number() == before + 1);  // the split is a collective of the world
  if (me % 2 == 0) {
    CHECK(sub == nullptr);
  } else {
    REQUIRE(sub != nullptr);
    CHECK(sub->world_ranks() == odd);
    CHECK(odd[sub->rank()] == me);
    Tensor t = full({3}, me, DType::i64);
    sub->allreduce(t);
    int64_t want = 0;
    for (int r : odd) want += r;
    CHECK(t.to_vector<int64_t>()[0] == want);
  }
  CHECK_THROWS_WITH(group->new_group({0, 0}), doctest::Contains("rank 0 is listed twice"));
}

TEST_CASE("topology groups: a 2x2 layout at 4 ranks (p x 1 otherwise), one group per axis") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  dist::Topology topology = p == 4 ? dist::Topology({{"data", 2}, {"model", 2}}, 4)
                                   : dist::Topology({{"data", p}, {"model", 1}}, p);
  for (const char* axis : {"data", "model"}) {
    CAPTURE(axis);
    std::shared_ptr<dist::ProcessGroup> sub = group->topology_group(topology, axis);
    REQUIRE(sub != nullptr);
    std::vector<int> ranks = topology.group_ranks(me, axis);
    CHECK(sub->world_ranks() == ranks);
    CHECK(sub->rank() == topology.coordinate(me, axis));
    // The sum of world ranks over the group, and a gather that lists them in group order.
    Tensor t = full({1}, me, DType::i32);
    sub->allreduce(t);
    int want = 0;
    for (int r : ranks) want += r;
    CHECK(t.item<int32_t>() == want);
    Tensor gathered = empty({sub->size()}, DType::i32);
    sub->allgather(gathered, full({1}, me, DType::i32));
    std::vector<int32_t> got = gathered.to_vector<int32_t>();
    CHECK(std::vector<int>(got.begin(), got.end()) == ranks);
  }
}

TEST_CASE("sequence numbers advance with each collective and agree across ranks") {
  auto group = world_group();
  uint64_t first = group->sequence_number();
  group->barrier();
  group->allreduce(zeros({2}));
  CHECK(group->sequence_number() == first + 2);
  Tensor mine = full({1}, static_cast<double>(group->sequence_number()), DType::i64);
  Tensor all = empty({group->size()}, DType::i64);
  group->allgather(all, mine);
  for (int64_t s : all.to_vector<int64_t>()) CHECK(s == static_cast<int64_t>(first + 2));
}

TEST_CASE("mismatched calls are an error on every rank that names each rank's call") {
  // A fresh group: its first allreduce is checked.
  auto group = dist::MpiProcessGroup::create_world();
  int me = group->rank();
  Tensor t = zeros({me == 0 ? 10 : 11});
  std::string message;
  try {
    group->allreduce(t);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("the ranks' calls do not match") != std::string::npos);
  CHECK(message.find("rank 0: allreduce(sum) f32 [10], call 0") != std::string::npos);
  CHECK(message.find("rank 1: allreduce(sum) f32 [11], call 0") != std::string::npos);

  // In debug mode every call is checked: here the ops differ on the second call of each.
  group->set_debug_checks(true);
  Tensor u = zeros({4});
  group->allreduce(u);  // agrees: call 1
  message.clear();
  try {
    if (me == 0)
      group->broadcast(u, 0);
    else
      group->allreduce(u, ReduceOp::max);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("rank 0: broadcast(root 0) f32 [4], call 2") != std::string::npos);
  CHECK(message.find("rank 1: allreduce(max) f32 [4], call 2") != std::string::npos);
  group->barrier();  // the group is still usable
}

TEST_CASE("sizes that differ across ranks are an error on the first call of every collective") {
  // Each call is valid on its own rank (the output holds size() inputs, ...); only the ranks
  // disagree: rank 0 moves 2 elements per rank, the others 3. Each on a fresh group, whose first
  // call of the op is checked.
  auto expect_mismatch = [](const std::string& op, auto call) {
    auto group = dist::MpiProcessGroup::create_world();
    const int64_t n = group->rank() == 0 ? 2 : 3;
    std::string message;
    try {
      call(*group, n);
    } catch (const Error& e) {
      message = e.what();
    }
    CAPTURE(message);
    CHECK(message.find(op + ": the ranks' calls do not match") != std::string::npos);
    CHECK(message.find("rank 0: " + op) != std::string::npos);
    CHECK(message.find("rank 1: " + op) != std::string::npos);
    group->barrier();  // the group is still usable
  };
  expect_mismatch("reduce_scatter", [](dist::ProcessGroup& g, int64_t n) {
    g.reduce_scatter(zeros({n}), zeros({g.size() * n}));
  });
  expect_mismatch("allgather", [](dist::ProcessGroup& g, int64_t n) {
    g.allgather(zeros({g.size() * n}), zeros({n}));
  });
  expect_mismatch("broadcast",
                  [](dist::ProcessGroup& g, int64_t n) { g.broadcast(zeros({n}), 0); });
  // A dtype that differs with the same element count.
  expect_mismatch("allreduce", [](dist::ProcessGroup& g, int64_t) {
    g.allreduce(zeros({4}, g.rank() == 0 ? DType::f32 : DType::f64));
  });
}

TEST_CASE("misuse is an error naming the op, before anything is sent") {
  auto group = world_group();
  int p = group->size();
  Tensor strided = zeros({4, 4}).transpose(0, 1);
  CHECK_THROWS_WITH(group->allreduce(strided),
                    doctest::Contains("allreduce: the tensor of shape [4, 4] is not contiguous"));
  CHECK_THROWS_WITH(group->allgather(zeros({p * 3}), zeros({2})),
                    doctest::Contains("allgather: the output"));
  CHECK_THROWS_WITH(group->reduce_scatter(zeros({2}), zeros({p * 2}, DType::f64)),
                    doctest::Contains("reduce_scatter: the input"));
  CHECK_THROWS_WITH(group->broadcast(zeros({2}), p), doctest::Contains("broadcast: root"));
  CHECK_THROWS_WITH(group->send(zeros({2}), group->rank()), doctest::Contains("send: destination"));
}
