// MpiProcessGroup's shared-memory collectives under mpirun (2, 3 and 4 ranks on this node):
// allreduce (sum, avg, max) and reduce_scatter on every numeric dtype, at sizes at
// and just above the threshold where they leave MPI and above one window chunk, against a serial
// reference that sums in rank order 0..N-1 in the accumulation type (f32 for f32 and 16-bit
// floats, f64 for f64), bit for bit; and every rank's result is the same bits.
//
// Unlike process_group_test's inputs, these have full mantissas, so the sum order matters: the
// reference pins it.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/factories.hpp"
#include "core/reduce.hpp"
#include "parallel/dist.hpp"
#include "parallel/mpi_process_group.hpp"
#include "parallel/shm_collectives.hpp"

using namespace strata;
using dist::ReduceOp;
using dist::detail::ShmCollectives;

namespace {

// 1 MiB chunks (the default is 16 MiB) keep the sizes beyond one chunk quick to check.
constexpr size_t kChunkBytes = size_t{1} << 20;

std::shared_ptr<dist::MpiProcessGroup> world_group() {
  static std::shared_ptr<dist::MpiProcessGroup> group = [] {
    setenv("STRATA_SHM_CHUNK_BYTES", std::to_string(kChunkBytes).c_str(), 1);
    return dist::MpiProcessGroup::create_world();
  }();
  return group;
}

constexpr DType kDTypes[] = {DType::f32,  DType::f64, DType::f16,
                             DType::bf16, DType::i32, DType::i64};

// Element counts for a dtype: the threshold where collectives leave MPI (below it, MPI's own sum
// order applies: process_group_test covers it), one above, and 1.5 chunks + 3 (two chunks, the
// last partial).
std::vector<int64_t> sizes(DType dtype) {
  int64_t element = static_cast<int64_t>(element_size(dtype));
  int64_t threshold = ShmCollectives::kMinBytes / element;
  int64_t chunk = kChunkBytes / element;
  return {threshold, threshold + 1, chunk + chunk / 2 + 3};
}

// Up to past 64 MiB, where results are written with streaming stores (f32 only there: one large
// size keeps the test quick).
std::vector<int64_t> symmetric_sizes(DType dtype) {
  int64_t element = static_cast<int64_t>(element_size(dtype));
  std::vector<int64_t> sizes = {0, 1, 7, 1001, ShmCollectives::kMinBytes / element + 3};
  if (dtype == DType::f32) sizes.push_back((int64_t{64} << 20) / element + 5);
  return sizes;
}

uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 29;
  return x;
}

// Rank r's input number `seed`: floats uniform in [-4, 4) with full mantissas, integers in
// [-1000, 1000].
template <typename T>
std::vector<T> inputs(uint64_t seed, int rank, int64_t n) {
  std::vector<T> v(n);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t x = mix(seed * 0x9E3779B97F4A7C15ull + rank * 0xBF58476D1CE4E5B9ull + i);
    if constexpr (std::is_integral_v<T>)
      v[i] = static_cast<T>(static_cast<int64_t>(x % 2001) - 1000);
    else
      v[i] = static_cast<T>(static_cast<compute_t<T>>((x >> 11) * 0x1.0p-53 * 8 - 4));
  }
  return v;
}

// The values as a CPU tensor, or (symmetric) as one from empty_symmetric: the zero-copy path.
template <typename T>
Tensor tensor_of(const std::vector<T>& v, bool symmetric = false) {
  const Shape shape = {static_cast<int64_t>(v.size())};
  Tensor t = symmetric ? world_group()->empty_symmetric(shape, dtype_of<T>())
                       : empty(shape, dtype_of<T>());
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(T));
  return t;
}

// The reduction over ranks in rank order, in the accumulation type, rounded once.
template <typename T>
std::vector<T> reference(uint64_t seed, int ranks, int64_t n, ReduceOp op) {
  using A = compute_t<T>;
  std::vector<A> acc(n);
  for (int r = 0; r < ranks; ++r) {
    std::vector<T> in = inputs<T>(seed, r, n);
    for (int64_t i = 0; i < n; ++i) {
      A v = static_cast<A>(in[i]);
      if (r == 0)
        acc[i] = v;
      else if (op == ReduceOp::max)
        acc[i] = acc[i] < v ? v : acc[i];
      else
        acc[i] += v;
    }
  }
  std::vector<T> out(n);
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<T>(op == ReduceOp::avg ? acc[i] / static_cast<A>(ranks) : acc[i]);
  return out;
}

// The elements of t whose bits differ from want's (shown with the first one).
template <typename T>
int64_t bit_mismatches(const Tensor& t, const std::vector<T>& want) {
  REQUIRE(t.numel() == static_cast<int64_t>(want.size()));
  const char* got = static_cast<const char*>(t.data_ptr());
  int64_t count = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(got + i * sizeof(T), &want[i], sizeof(T)) == 0) continue;
    if (count++ == 0) MESSAGE("element ", i, " differs from the reference");
  }
  return count;
}

// Whether every rank holds the same bits in t.
bool same_on_every_rank(const Tensor& t) {
  auto group = world_group();
  Tensor bytes = t.view({-1});
  Tensor all = empty({group->size() * t.numel()}, t.dtype());
  group->allgather(all, bytes);
  for (int r = 1; r < group->size(); ++r)
    if (std::memcmp(all.data_ptr(), static_cast<char*>(all.data_ptr()) + r * t.nbytes(),
                    t.nbytes()) != 0)
      return false;
  return true;
}

}  // namespace

TEST_CASE("the world group of one node uses shared memory") {
  CHECK(world_group()->shared_memory());
}

namespace {

// allreduce of every dtype, size and op against the serial reduction, bit for bit, on ordinary
// tensors (through the window at and above the threshold) or on symmetric ones (no copy, at every
// size), where a view at the same offset on every rank takes the zero-copy path too.
void check_allreduce(bool symmetric, uint64_t seed) {
  auto group = world_group();
  for (DType dtype : kDTypes)
    for (int64_t n : symmetric ? symmetric_sizes(dtype) : sizes(dtype))
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
        CAPTURE(dtype_name(dtype));
        CAPTURE(n);
        CAPTURE(reduce_op_name(op));
        ++seed;
        STRATA_DISPATCH_NUMERIC(dtype, "test", [&] {
          Tensor t = tensor_of(inputs<scalar_t>(seed, group->rank(), n), symmetric);
          group->allreduce(t, op);
          std::vector<scalar_t> want = reference<scalar_t>(seed, group->size(), n, op);
          CHECK(bit_mismatches(t, want) == 0);
          CHECK(same_on_every_rank(t));
          if (symmetric && n >= 2) {  // the ranks hold the same values: max leaves them
            group->allreduce(t.slice(0, 1, n), ReduceOp::max);
            CHECK(bit_mismatches(t, want) == 0);
          }
        });
      }
}

}  // namespace

TEST_CASE("shared-memory allreduce equals the rank-ordered serial reduction, bit for bit") {
  check_allreduce(false, 1);
}

TEST_CASE("allreduce of a symmetric tensor equals the rank-ordered serial reduction") {
  check_allreduce(true, 2000);
}

TEST_CASE("shared-memory reduce_scatter gives each rank its chunk of the serial reduction") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  uint64_t seed = 1000;
  for (DType dtype : kDTypes)
    for (int64_t n : sizes(dtype))
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::avg, ReduceOp::max}) {
        int64_t chunk = n / p + 1;
        CAPTURE(dtype_name(dtype));
        CAPTURE(chunk);
        CAPTURE(reduce_op_name(op));
        ++seed;
        STRATA_DISPATCH_NUMERIC(dtype, "test", [&] {
          Tensor input = tensor_of(inputs<scalar_t>(seed, me, chunk * p));
          Tensor output = empty({chunk}, dtype);
          group->reduce_scatter(output, input, op);
          std::vector<scalar_t> all = reference<scalar_t>(seed, p, chunk * p, op);
          CHECK(bit_mismatches(output, std::vector<scalar_t>(all.begin() + me * chunk,
                                                             all.begin() + (me + 1) * chunk)) == 0);
        });
      }
  // In place, 16-bit: the output is this rank's chunk of the input.
  int64_t chunk = sizes(DType::bf16)[2] / p;
  Tensor input = tensor_of(inputs<BFloat16>(7, me, chunk * p));
  Tensor output = input.slice(0, me * chunk, (me + 1) * chunk);
  group->reduce_scatter(output, input);
  std::vector<BFloat16> all = reference<BFloat16>(7, p, chunk * p, ReduceOp::sum);
  CHECK(bit_mismatches(output, std::vector<BFloat16>(all.begin() + me * chunk,
                                                     all.begin() + (me + 1) * chunk)) == 0);
}

TEST_CASE("reduce_scatter of a symmetric input, apart and in place") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  uint64_t seed = 3000;
  for (DType dtype : kDTypes)
    for (int64_t n : symmetric_sizes(dtype))
      for (bool in_place : {false, true}) {
        int64_t chunk = n / p + 1;
        CAPTURE(dtype_name(dtype));
        CAPTURE(chunk);
        CAPTURE(in_place);
        ++seed;
        STRATA_DISPATCH_NUMERIC(dtype, "test", [&] {
          Tensor input = tensor_of(inputs<scalar_t>(seed, me, chunk * p), true);
          Tensor output =
              in_place ? input.slice(0, me * chunk, (me + 1) * chunk) : empty({chunk}, dtype);
          group->reduce_scatter(output, input, ReduceOp::sum);
          std::vector<scalar_t> all = reference<scalar_t>(seed, p, chunk * p, ReduceOp::sum);
          CHECK(bit_mismatches(output, std::vector<scalar_t>(all.begin() + me * chunk,
                                                             all.begin() + (me + 1) * chunk)) == 0);
        });
      }
}

TEST_CASE("allgather into a symmetric output (push), in place, and from a symmetric input (pull)") {
  auto group = world_group();
  int p = group->size(), me = group->rank();
  // The last output is past 64 MiB: streamed.
  for (int64_t n : {int64_t{1}, int64_t{5}, int64_t{70000}, (int64_t{64} << 20) / 4 / p + 1}) {
    CAPTURE(n);
    std::vector<int32_t> want;
    for (int r = 0; r < p; ++r) {
      std::vector<int32_t> piece = inputs<int32_t>(n, r, n);
      want.insert(want.end(), piece.begin(), piece.end());
    }
    std::vector<int32_t> mine = inputs<int32_t>(n, me, n);
    Tensor pushed = group->empty_symmetric({n * p}, DType::i32);
    group->allgather(pushed, tensor_of(mine));
    CHECK(bit_mismatches(pushed, want) == 0);

    Tensor in_place = group->empty_symmetric({n * p}, DType::i32);
    Tensor own = in_place.slice(0, me * n, (me + 1) * n);
    std::memcpy(own.data_ptr(), mine.data(), n * sizeof(int32_t));
    group->allgather(in_place, own);
    CHECK(bit_mismatches(in_place, want) == 0);

    Tensor pulled = empty({n * p}, DType::i32);
    group->allgather(pulled, tensor_of(mine, true));
    CHECK(bit_mismatches(pulled, want) == 0);
  }
}

TEST_CASE("a symmetric tensor may be freed on one rank while the others keep theirs") {
  auto group = world_group();
  Tensor kept = group->empty_symmetric({1000}, DType::f32);
  {
    Tensor early = group->empty_symmetric({1000}, DType::f32);
    if (group->rank() == 0) early = Tensor();  // freed here first, elsewhere at the scope's end
    kept.fill_(1.0);
    group->allreduce(kept);
  }
  CHECK(sum(kept).item<double>() == doctest::Approx(1000.0 * group->size()));
}

TEST_CASE("a symmetric tensor on some ranks and an ordinary one on others is an error") {
  auto group = world_group();
  group->set_debug_checks(true);
  Tensor symmetric = group->empty_symmetric({64}, DType::f32);
  Tensor t = group->rank() == 0 ? empty({64}, DType::f32) : symmetric;
  t.fill_(1.0);
  CHECK_THROWS_WITH(group->allreduce(t), doctest::Contains("symmetric tensor at byte 0"));
  group->set_debug_checks(false);
}
