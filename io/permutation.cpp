// Fisher-Yates over Philox (permutation.hpp).
#include "io/permutation.hpp"

#include <numeric>
#include <utility>

#include "core/error.hpp"
#include "core/random.hpp"

namespace strata::io {

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed, uint64_t stream) {
  STRATA_CHECK(n >= 0, "random_permutation: n = ", n, "; expected n >= 0");
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) {
    auto bits = philox4x32_10(seed, static_cast<uint64_t>(i), stream);
    uint64_t random = uint64_t{bits[0]} << 32 | bits[1];
    std::swap(order[i], order[random % static_cast<uint64_t>(i + 1)]);
  }
  return order;
}

}  // namespace strata::io
