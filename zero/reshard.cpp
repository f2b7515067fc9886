// reshard_plan (reshard.hpp): walks the destination rank's slices, cuts them at parameter
// boundaries, and cuts each parameter piece again at the source layout's slice boundaries.
#include "zero/reshard.hpp"

#include <algorithm>
#include <cstring>
#include <map>

#include "core/error.hpp"
#include "core/factories.hpp"

namespace strata::zero {
namespace {

struct Place {
  size_t buffer = 0;
  size_t member = 0;
};

std::map<std::string, Place> places_by_name(const PartitionLayout& layout, const char* which,
                                            std::vector<std::string>& problems) {
  std::map<std::string, Place> places;
  for (size_t b = 0; b < layout.buffers.size(); ++b) {
    const std::vector<MemberLayout>& members = layout.buffers[b].members;
    for (size_t m = 0; m < members.size(); ++m) {
      if (!places.emplace(members[m].name, Place{b, m}).second)
        problems.push_back(detail::concat(which, " lists \"", members[m].name, "\" twice"));
    }
  }
  return places;
}

std::string list(const std::vector<std::string>& items) {
  std::string text;
  for (const std::string& item : items) text += "\n  " + item;
  return text;
}

// The unit of `units` holding flat element `x` (a member's element, so never padding).
const Unit& unit_at(const BufferUnits& units, int64_t x) {
  auto after = std::upper_bound(units.units.begin(), units.units.end(), x,
                                [](int64_t value, const Unit& u) { return value < u.begin; });
  STRATA_CHECK(after != units.units.begin(), "reshard_plan: element ", x,
               " lies before the first unit");
  const Unit& unit = *(after - 1);
  STRATA_CHECK(x < unit.begin + unit.payload, "reshard_plan: element ", x,
               " of a parameter lies in the padding of the unit at ", unit.begin,
               "; the layout's units and members disagree");
  return unit;
}

void add_piece(ReshardPlan& plan, ReshardPiece piece) {
  if (!plan.pieces.empty()) {
    ReshardPiece& last = plan.pieces.back();
    if (last.src_buffer == piece.src_buffer && last.src_rank == piece.src_rank &&
        last.src_offset + last.count == piece.src_offset &&
        last.dst_offset + last.count == piece.dst_offset) {
      last.count += piece.count;
      return;
    }
  }
  plan.pieces.push_back(piece);
}

}  // namespace

void check_same_parameters(const PartitionLayout& from, const PartitionLayout& to,
                           const std::string& what) {
  std::vector<std::string> problems;
  const std::map<std::string, Place> saved = places_by_name(from, "the first layout", problems);
  const std::map<std::string, Place> wanted = places_by_name(to, "the second layout", problems);
  for (const auto& [name, place] : wanted) {
    auto it = saved.find(name);
    const MemberLayout& member = to.buffers[place.buffer].members[place.member];
    if (it == saved.end()) {
      problems.push_back(
          detail::concat("\"", name, "\" ", shape_str(member.shape), " is missing from the first"));
      continue;
    }
    const MemberLayout& old = from.buffers[it->second.buffer].members[it->second.member];
    if (old.shape != member.shape)
      problems.push_back(detail::concat("\"", name, "\" is ", shape_str(old.shape),
                                        " in the first, ", shape_str(member.shape),
                                        " in the second"));
  }
  for (const auto& [name, place] : saved) {
    if (!wanted.count(name))
      problems.push_back(detail::concat(
          "\"", name, "\" ", shape_str(from.buffers[place.buffer].members[place.member].shape),
          " is in the first only"));
  }
  STRATA_CHECK(problems.empty(), what, " do not hold the same parameters (", problems.size(),
               " differences):", list(problems));
}

ReshardPlan reshard_plan(const PartitionLayout& from, const PartitionLayout& to, size_t buffer,
                         int rank) {
  STRATA_CHECK(buffer < to.buffers.size(), "reshard_plan: buffer ", buffer, " of ",
               to.buffers.size());
  STRATA_CHECK(rank >= 0 && rank < to.world, "reshard_plan: rank ", rank, " of a world of ",
               to.world);
  check_same_parameters(from, to, "reshard_plan: the two layouts");
  std::vector<std::string> unused;
  const std::map<std::string, Place> sources = places_by_name(from, "", unused);

  const BufferLayout& dst = to.buffers[buffer];
  ReshardPlan plan;
  for (const Unit& unit : dst.units.units) {
    const int64_t slice_begin = unit.begin + rank * unit.slice;
    const int64_t slice_end = slice_begin + unit.slice;
    plan.numel = std::max(plan.numel, unit.compact_begin + unit.slice);
    for (size_t m = unit.first_member; m < unit.end_member; ++m) {
      const MemberLayout& member = dst.members[m];
      const int64_t a = std::max(slice_begin, member.begin);
      const int64_t b = std::min(slice_end, member.begin + member.numel());
      if (a >= b) continue;
      // Elements [a, b) of the destination buffer are elements [a - begin, b - begin) of the
      // parameter: find them in the source layout, slice by slice.
      const Place place = sources.at(member.name);
      const BufferLayout& src = from.buffers[place.buffer];
      int64_t x = src.members[place.member].begin + (a - member.begin);
      int64_t dst_offset = unit.compact_begin + (a - slice_begin);
      for (int64_t left = b - a; left > 0;) {
        const Unit& su = unit_at(src.units, x);
        const int64_t within = x - su.begin;
        const int src_rank = static_cast<int>(within / su.slice);
        const int64_t offset = within % su.slice;
        const int64_t count = std::min(left, su.slice - offset);
        add_piece(plan, {place.buffer, src_rank, su.compact_begin + offset, dst_offset, count});
        x += count;
        dst_offset += count;
        left -= count;
      }
    }
  }
  return plan;
}

Tensor apply_reshard(const ReshardPlan& plan, const PartitionSource& source) {
  Tensor out = zeros({plan.numel}, DType::f32);
  float* data = out.data<float>();
  for (const ReshardPiece& piece : plan.pieces)
    source(piece.src_buffer, piece.src_rank, piece.src_offset, piece.count,
           data + piece.dst_offset);
  return out;
}

}  // namespace strata::zero
