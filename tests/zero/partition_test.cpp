// Units, slices and compact ranges (zero/partition.hpp) as FlatParameters cuts them: padding to
// world * alignment, unit closing at max_unit_numel and at unit_starts, compact coordinates, and
// stage 0's unpadded layout.
#include <doctest/doctest.h>

#include "strata.hpp"
#include "zero/flat_parameters.hpp"

using namespace strata;

namespace {

std::vector<Tensor> parameters(const std::vector<int64_t>& sizes, DType dtype = DType::f32) {
  std::vector<Tensor> params;
  for (int64_t n : sizes) params.push_back(randn({n}).to(dtype).requires_grad_());
  return params;
}

}  // namespace

TEST_CASE("partition: stage 0 units are unpadded buckets") {
  zero::FlatParameters flat(parameters({3, 24, 8, 32}), {.max_unit_numel = 30});
  const zero::FlatBuffer& b = flat.buffers()[0];
  CHECK(b.begins == std::vector<int64_t>{0, 3, 27, 35});
  CHECK(b.params.numel() == 67);
  REQUIRE(b.units.units.size() == 3);
  CHECK(b.units.units[0].payload == 27);
  CHECK(b.units.units[0].slice == 27);
  CHECK(b.units.units[1].begin == 27);
  CHECK(b.units.units[2].first_member == 3);
  CHECK(b.units.units[2].end_member == 4);
  CHECK(b.units.partition_numel() == 67);
  CHECK(b.units.compact_range(3, 35, 0) == std::pair<int64_t, int64_t>{3, 35});
}

TEST_CASE("partition: padded units, slices and compact ranges over 4 ranks") {
  auto params = parameters({3, 24, 8, 32, 5});
  zero::FlatParameters flat(params,
                            {.world = 4, .alignment = 2, .max_unit_numel = 30, .unit_starts = {4}});
  const zero::FlatBuffer& b = flat.buffers()[0];
  const zero::BufferUnits& u = b.units;
  // Units: {3, 24} -> 27 padded to 32, {8} -> 8, {32} -> 32, {5} (forced start) -> 8.
  REQUIRE(u.units.size() == 4);
  CHECK(u.units[0].slice == 8);
  CHECK(u.units[1].begin == 32);
  CHECK(u.units[1].slice == 2);
  CHECK(u.units[2].begin == 40);
  CHECK(u.units[3].begin == 72);
  CHECK(u.units[3].slice == 2);
  CHECK(u.numel == 80);
  CHECK(b.params.numel() == 80);
  CHECK(b.begins == std::vector<int64_t>{0, 3, 32, 40, 72});
  CHECK(u.units[2].compact_begin == 10);
  CHECK(u.partition_numel() == 20);
  CHECK(u.slice_range(2, 3) == std::pair<int64_t, int64_t>{64, 72});
  // The values moved into the buffer, the padding is zero.
  CHECK(amax(abs(sub(b.params.narrow(0, 3, 24), params[1].detach()))).item<double>() == 0);
  CHECK(amax(abs(b.params.narrow(0, 27, 5))).item<double>() == 0);
  // Rank 1 owns [8, 16) of unit 0, [34, 36) of unit 1, [48, 56) of unit 2, [74, 76) of unit 3.
  CHECK(u.compact_range(0, 80, 1) == std::pair<int64_t, int64_t>{0, 20});
  CHECK(u.compact_range(3, 27, 1) == std::pair<int64_t, int64_t>{0, 8});     // parameter 1
  CHECK(u.compact_range(0, 3, 1) == std::pair<int64_t, int64_t>{0, 0});      // not owned
  CHECK(u.compact_range(12, 50, 1) == std::pair<int64_t, int64_t>{4, 12});   // partial ends
  CHECK(u.compact_range(72, 77, 3) == std::pair<int64_t, int64_t>{18, 18});  // padding only
  // Every element of the buffer is owned by exactly one rank.
  int64_t owned = 0;
  for (int r = 0; r < 4; ++r) {
    auto [first, last] = u.compact_range(0, u.numel, r);
    owned += last - first;
  }
  CHECK(owned == u.numel);
}

TEST_CASE("partition: one buffer per dtype, unit_starts count over all buffers") {
  std::vector<Tensor> params = parameters({4, 4});
  for (const Tensor& p : parameters({4, 4}, DType::bf16)) params.push_back(p);
  zero::FlatParameters flat(params, {.world = 2, .alignment = 1, .unit_starts = {3}}, false);
  REQUIRE(flat.buffers().size() == 2);
  CHECK(flat.buffers()[0].units.units.size() == 1);
  CHECK(flat.buffers()[1].units.units.size() == 2);  // parameter 3 starts a unit
  CHECK(!flat.buffers()[0].grads.defined());
  CHECK(!params[0].grad().defined());
  flat.check_intact();
}
