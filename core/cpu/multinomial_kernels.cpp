// CPU multinomial sampling, one row of probabilities per task (see core/random_kernels.hpp for
// the sampling rule and the stream slots each draw uses).
#include <algorithm>
#include <utility>
#include <vector>

#include "core/parallel.hpp"
#include "core/random_kernels.hpp"
#include "core/random_values.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

// Samples with replacement: the first class whose running sum exceeds u * total.
void sample_with_replacement(const double* p, int64_t classes, int64_t samples, uint64_t first_slot,
                             PhiloxWords& words, std::vector<double>& running, int64_t* out) {
  double total = 0;
  int64_t last_positive = 0;
  for (int64_t c = 0; c < classes; ++c) {
    total += p[c];
    running[c] = total;
    if (p[c] > 0) last_positive = c;
  }
  for (int64_t s = 0; s < samples; ++s) {
    double target = uniform_value<double>(first_slot + 2 * static_cast<uint64_t>(s), words) * total;
    auto hit = std::upper_bound(running.begin(), running.begin() + classes, target);
    // u * total can round up to total itself: that is the last class with any mass.
    out[s] = hit == running.begin() + classes ? last_positive : hit - running.begin();
  }
}

// Samples without replacement: the `samples` largest keys log(u_c) / p_c, largest first; ties
// (equal keys) go to the lower class.
void sample_without_replacement(const double* p, int64_t classes, int64_t samples,
                                uint64_t first_slot, PhiloxWords& words,
                                std::vector<std::pair<double, int64_t>>& keys, int64_t* out) {
  keys.clear();
  for (int64_t c = 0; c < classes; ++c) {
    if (!(p[c] > 0)) continue;
    uint64_t bits = word64(words, first_slot + 2 * static_cast<uint64_t>(c)) >> 11;
    double log_u = random_detail::log_of_fraction<double>(bits + 1, 53);  // u in (0, 1]
    keys.emplace_back(log_u / p[c], c);
  }
  auto larger = [](const std::pair<double, int64_t>& a, const std::pair<double, int64_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::partial_sort(keys.begin(), keys.begin() + samples, keys.end(), larger);
  for (int64_t s = 0; s < samples; ++s) out[s] = keys[s].second;
}

}  // namespace

void multinomial_kernel(const Tensor& out, const Tensor& probs, bool replacement,
                        PhiloxState state) {
  const int64_t rows = probs.size(0), classes = probs.size(1), samples = out.size(1);
  const double* p = static_cast<const double*>(probs.data_ptr());
  int64_t* result = static_cast<int64_t*>(out.data_ptr());
  const int64_t grain = std::max<int64_t>(1, 4096 / classes);
  parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
    PhiloxWords words{state.seed};
    std::vector<double> running(replacement ? classes : 0);
    std::vector<std::pair<double, int64_t>> keys;
    for (int64_t r = begin; r < end; ++r) {
      const double* row = p + r * classes;
      int64_t* row_out = result + r * samples;
      if (replacement) {
        uint64_t first = state.offset + 2 * static_cast<uint64_t>(r * samples);
        sample_with_replacement(row, classes, samples, first, words, running, row_out);
      } else {
        uint64_t first = state.offset + 2 * static_cast<uint64_t>(r * classes);
        sample_without_replacement(row, classes, samples, first, words, keys, row_out);
      }
    }
  });
}

}  // namespace strata::cpu::STRATA_ISA
