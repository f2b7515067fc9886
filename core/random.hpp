// Counter-based random numbers: Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as
// 1, 2, 3"). Element i of a draw with state (seed, offset) is a pure function of (seed, offset +
// i), so CPU and CUDA, and any split of a tensor across threads or ranks, see the same numbers.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "core/half.hpp"

namespace strata {

// Where a draw starts in the Philox stream: the key is the seed, the counter starts at offset.
struct PhiloxState {
  uint64_t seed = 0;
  uint64_t offset = 0;
};

// Four 32-bit outputs for one 128-bit counter value, ten rounds.
STRATA_HOST_DEVICE inline std::array<uint32_t, 4> philox4x32_10(uint64_t seed, uint64_t counter_lo,
                                                                uint64_t counter_hi = 0) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0, c1, c2, c3};
}

// The 32 random bits of element `index` of a draw: one Philox block serves four elements.
STRATA_HOST_DEVICE inline uint32_t philox_bits(PhiloxState state, uint64_t index) {
  uint64_t element = state.offset + index;
  return philox4x32_10(state.seed, element / 4)[element % 4];
}

// A seeded source of PhiloxStates: each draw takes the next `count` stream slots (32-bit words),
// starting on a Philox block. Thread-safe.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  PhiloxState state() const;
  void set_state(PhiloxState state);
  // Reserves `count` slots of the stream and returns where they start: the current offset
  // rounded up to a multiple of 4, so each draw begins on a block.
  PhiloxState draw(uint64_t count);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The process-wide generator used when an op is given none.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace strata
