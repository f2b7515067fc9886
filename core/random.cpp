// Generator: hands out disjoint ranges of the Philox stream of one seed.
#include "core/random.hpp"

namespace strata {

void Generator::manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::seed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return seed_;
}

PhiloxState Generator::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {seed_, offset_};
}

void Generator::set_state(PhiloxState state) {
  std::lock_guard<std::mutex> lock(mutex_);
  seed_ = state.seed;
  offset_ = state.offset;
}

PhiloxState Generator::draw(uint64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Start on a Philox block boundary, so kernels compute each block of a draw once.
  uint64_t start = (offset_ + 3) / 4 * 4;
  offset_ = start + count;
  return {seed_, start};
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace strata
