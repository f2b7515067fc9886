// Unigram entropy (unigram_entropy.hpp): counts per value, summed in value order.
#include "io/unigram_entropy.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <unordered_map>
#include <utility>
#include <vector>

namespace strata::io {

Entropy unigram_entropy(const Tensor& tokens) {
  STRATA_CHECK(tokens.dtype() == DType::i32 || tokens.dtype() == DType::i64,
               "unigram_entropy: tokens have dtype ", dtype_name(tokens.dtype()),
               "; expected i32 or i64");
  STRATA_CHECK(tokens.numel() > 0, "unigram_entropy: tokens of shape ", shape_str(tokens.shape()),
               " are empty");
  std::unordered_map<int64_t, int64_t> counts;
  for (int64_t token : tokens.to_vector<int64_t>()) ++counts[token];
  // Summed in order of value, so the result does not depend on the hash table's order.
  std::vector<std::pair<int64_t, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  double n = static_cast<double>(tokens.numel()), nats = 0;
  for (auto [value, count] : sorted) {
    double p = static_cast<double>(count) / n;
    nats -= p * std::log(p);
  }
  return {nats, nats / std::numbers::ln2};
}

}  // namespace strata::io
