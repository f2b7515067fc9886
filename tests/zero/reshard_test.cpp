// reshard_plan against direct slicing: for many pairs of layouts as FlatParameters cuts them
// (worlds 1-4, different unit cuts, padding, parameters spread over other buffers), every rank's
// resharded partition equals the partition cut directly from the parameters' values. Also the
// merged pieces of an unchanged layout, and the errors for layouts with different parameters.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/factories.hpp"
#include "zero/flat_parameters.hpp"
#include "zero/reshard.hpp"

namespace strata::zero {
namespace {

// The value of element j of the parameter named `name`: distinct over all parameters.
float value_of(const std::string& name, int64_t j) {
  return static_cast<float>(std::stoi(name.substr(1)) * 1000 + j + 1);
}

// Rank `rank`'s partition of a buffer, cut directly: padding is zero.
std::vector<float> partition(const BufferLayout& buffer, int rank) {
  std::vector<float> out;
  for (const Unit& unit : buffer.units.units) {
    for (int64_t k = 0; k < unit.slice; ++k) {
      const int64_t x = unit.begin + rank * unit.slice + k;
      float value = 0;
      for (size_t m = unit.first_member; m < unit.end_member; ++m) {
        const MemberLayout& member = buffer.members[m];
        if (x >= member.begin && x < member.begin + member.numel())
          value = value_of(member.name, x - member.begin);
      }
      out.push_back(value);
    }
  }
  return out;
}

using Params = std::vector<std::pair<std::string, int64_t>>;

// The layout FlatParameters cuts: buffer i holds params[i], in dtype f32 for i = 0, bf16 for 1.
PartitionLayout layout(const std::vector<Params>& buffers, int world, int64_t alignment,
                       int64_t max_unit) {
  const DType dtypes[] = {DType::f32, DType::bf16};
  std::vector<Tensor> tensors;
  std::vector<std::string> names;
  for (size_t b = 0; b < buffers.size(); ++b) {
    for (const auto& [name, numel] : buffers[b]) {
      tensors.push_back(zeros({numel}, dtypes[b]));
      names.push_back(name);
    }
  }
  const FlatParameters flat(tensors,
                            {.world = world, .alignment = alignment, .max_unit_numel = max_unit});
  PartitionLayout out{.world = world};
  size_t next = 0;
  for (const FlatBuffer& buffer : flat.buffers()) {
    BufferLayout& layout = out.buffers.emplace_back();
    layout.dtype = buffer.params.dtype();
    layout.units = buffer.units;
    for (size_t m = 0; m < buffer.members.size(); ++m)
      layout.members.push_back({names[next++], buffer.begins[m], buffer.members[m].shape()});
  }
  return out;
}

void check_reshard(const PartitionLayout& from, const PartitionLayout& to) {
  // The source partitions, cut directly.
  std::vector<std::vector<std::vector<float>>> saved(from.buffers.size());
  for (size_t b = 0; b < from.buffers.size(); ++b)
    for (int r = 0; r < from.world; ++r) saved[b].push_back(partition(from.buffers[b], r));
  PartitionSource source = [&](size_t b, int r, int64_t offset, int64_t count, float* out) {
    REQUIRE(b < saved.size());
    REQUIRE(r < from.world);
    REQUIRE(offset + count <= static_cast<int64_t>(saved[b][r].size()));
    std::copy_n(saved[b][r].begin() + offset, count, out);
  };
  for (size_t b = 0; b < to.buffers.size(); ++b) {
    for (int r = 0; r < to.world; ++r) {
      const ReshardPlan plan = reshard_plan(from, to, b, r);
      const Tensor got = apply_reshard(plan, source);
      const std::vector<float> want = partition(to.buffers[b], r);
      REQUIRE(got.numel() == static_cast<int64_t>(want.size()));
      const float* data = got.data<float>();
      for (size_t i = 0; i < want.size(); ++i) REQUIRE(data[i] == want[i]);
      for (size_t i = 1; i < plan.pieces.size(); ++i)
        CHECK(plan.pieces[i].dst_offset >=
              plan.pieces[i - 1].dst_offset + plan.pieces[i - 1].count);
    }
  }
}

const Params kParams = {{"p0", 37}, {"p1", 5}, {"p2", 64}, {"p3", 1}, {"p4", 130}, {"p5", 16}};

TEST_CASE("reshard_plan: every rank's partition equals the direct cut, across many layouts") {
  struct Cut {
    int64_t alignment, max_unit;
  };
  const std::vector<Cut> cuts = {{1, 1 << 20}, {16, 1 << 20}, {16, 64}, {4, 40}, {1, 1}, {2, 100}};
  for (int from_world = 1; from_world <= 4; ++from_world) {
    for (int to_world = 1; to_world <= 4; ++to_world) {
      for (const Cut& a : cuts) {
        for (const Cut& b : cuts) {
          CAPTURE(from_world);
          CAPTURE(to_world);
          CAPTURE(a.max_unit);
          CAPTURE(b.max_unit);
          check_reshard(layout({kParams}, from_world, a.alignment, a.max_unit),
                        layout({kParams}, to_world, b.alignment, b.max_unit));
        }
      }
    }
  }
}

TEST_CASE("reshard_plan: parameters may sit in other buffers and another order") {
  const Params first = {kParams[0], kParams[1], kParams[2]};
  const Params second = {kParams[3], kParams[4], kParams[5]};
  const Params mixed = {kParams[4], kParams[0], kParams[5], kParams[1], kParams[3], kParams[2]};
  for (int world = 1; world <= 4; ++world) {
    check_reshard(layout({first, second}, 3, 16, 64), layout({mixed}, world, 4, 50));
    check_reshard(layout({mixed}, world, 1, 1 << 20), layout({first, second}, 2, 16, 70));
  }
}

TEST_CASE("reshard_plan: an unchanged layout copies each rank's partition in one piece per run") {
  const PartitionLayout stage0 = layout({kParams}, 1, 1, 1 << 20);
  const ReshardPlan plan = reshard_plan(stage0, stage0, 0, 0);
  REQUIRE(plan.pieces.size() == 1);
  CHECK(plan.pieces[0] == ReshardPiece{0, 0, 0, 0, 253});
  CHECK(plan.numel == 253);

  // World 2: the padding of each unit is not copied, the rest comes from the same rank.
  const PartitionLayout zero2 = layout({kParams}, 2, 16, 100);
  for (int r = 0; r < 2; ++r) {
    for (const ReshardPiece& piece : reshard_plan(zero2, zero2, 0, r).pieces) {
      CHECK(piece.src_rank == r);
      CHECK(piece.src_offset == piece.dst_offset);
    }
  }
}

TEST_CASE("reshard_plan: layouts with different parameters are named in one error") {
  const PartitionLayout saved = layout({kParams}, 2, 16, 64);
  Params changed = kParams;
  changed[1].second = 6;    // p1 has another shape
  changed[5] = {"p9", 16};  // p5 is gone, p9 is new
  const PartitionLayout current = layout({changed}, 1, 1, 1 << 20);
  try {
    reshard_plan(saved, current, 0, 0);
    FAIL("no error");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find("3 differences") != std::string::npos);
    CHECK(message.find("\"p1\" is [5] in the first, [6] in the second") != std::string::npos);
    CHECK(message.find("\"p9\" [16] is missing from the first") != std::string::npos);
    CHECK(message.find("\"p5\" [16] is in the first only") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(reshard_plan(saved, saved, 0, 2),
                       doctest::Contains("rank 2 of a world of 2"), Error);
}

}  // namespace
}  // namespace strata::zero
