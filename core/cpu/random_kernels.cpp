// CPU kernels for random draws and dropout. Each thread takes a range of elements and, a chunk at a
// time, computes the Philox blocks the chunk's slots fall in (core/cpu/philox_blocks.hpp, vector
// lanes), then maps words to values with core/random_values.hpp.
#include <algorithm>

#include "core/cpu/half_vector.hpp"
#include "core/cpu/philox_blocks.hpp"
#include "core/dtype.hpp"
#include "core/parallel.hpp"
#include "core/random_kernels.hpp"
#include "core/random_values.hpp"

namespace strata::cpu::STRATA_ISA {
namespace {

constexpr int64_t kChunk = 1024;          // elements per batch of Philox blocks (stays in L1)
constexpr int64_t kRandomGrain = 16384;   // elements per thread at least
constexpr int64_t kDropoutGrain = 32768;  // as element-wise kernels

// The Philox words of a range of slots, looked up by absolute slot.
class WordWindow {
 public:
  // Holds at least slots [first, end); end - first <= 2 * kChunk + 6.
  void fill(uint64_t seed, uint64_t first, uint64_t end) {
    uint64_t first_block = first / 4, end_block = (end + 3) / 4;
    philox_blocks(seed, first_block, static_cast<int64_t>(end_block - first_block), words_);
    base_ = first_block * 4;
  }
  uint32_t operator()(uint64_t slot) const { return words_[slot - base_]; }

 private:
  alignas(64) uint32_t words_[2 * kChunk + 16];
  uint64_t base_ = 0;
};

// out[i] = value(first slot of element i, words) for elements taking kSlots slots each.
template <class T, int kSlots, class Value>
void fill_random(const Tensor& out, PhiloxState state, Value value) {
  T* data = static_cast<T*>(out.data_ptr());
  parallel_for(0, out.numel(), kRandomGrain, [&](int64_t begin, int64_t end) {
    WordWindow window;
    for (int64_t chunk = begin; chunk < end; chunk += kChunk) {
      int64_t count = std::min(kChunk, end - chunk);
      uint64_t first = state.offset + static_cast<uint64_t>(kSlots * chunk);
      // A normal value's Box-Muller pair may start up to 3 slots before its own slot.
      window.fill(state.seed, first - std::min<uint64_t>(first, 3), first + kSlots * count + 3);
      for (int64_t i = 0; i < count; ++i) {
        data[chunk + i] = value(first + static_cast<uint64_t>(kSlots * i), window);
      }
    }
  });
}

template <class T>
void fill_randint(const Tensor& out, PhiloxState state, int64_t low, uint64_t range) {
  fill_random<T, kRandintSlots>(out, state, [low, range](uint64_t slot, WordWindow& words) {
    return static_cast<T>(integer_value(slot, words, low, range));
  });
}

// out[i] = x[i] * scale where word[i] keeps element i, else 0, for i < count <= kChunk.
template <class T>
void dropout_chunk(const T* x, T* out, const uint32_t* word, int64_t count, uint32_t threshold,
                   compute_t<T> scale) {
  using compute = compute_t<T>;
  auto apply = [&](const compute* x_values, compute* out_values) {
    _Pragma("omp simd") for (int64_t i = 0; i < count; ++i) {
      out_values[i] = dropout_keep(word[i], threshold) ? x_values[i] * scale : compute(0);
    }
  };
  // 16-bit floats go through f32 in vector registers; f32 and f64 are used in place.
  if constexpr (std::is_same_v<compute, T>) {
    apply(x, out);
  } else {
    alignas(64) float values[kChunk];
    convert_contiguous(x, values, count);
    apply(values, values);
    convert_contiguous(values, out, count);
  }
}

}  // namespace

void uniform_kernel(const Tensor& out, PhiloxState state) {
  STRATA_DISPATCH_FLOATING(out.dtype(), "rand", [&] {
    fill_random<scalar_t, kRandomSlots<scalar_t>>(out, state, [](uint64_t slot, WordWindow& words) {
      return uniform_value<scalar_t>(slot, words);
    });
  });
}

void normal_kernel(const Tensor& out, PhiloxState state) {
  STRATA_DISPATCH_FLOATING(out.dtype(), "randn", [&] {
    fill_random<scalar_t, kRandomSlots<scalar_t>>(out, state, [](uint64_t slot, WordWindow& words) {
      return normal_value<scalar_t>(slot, words);
    });
  });
}

void randint_kernel(const Tensor& out, PhiloxState state, int64_t low, uint64_t range) {
  if (out.dtype() == DType::i32) {
    fill_randint<int32_t>(out, state, low, range);
  } else {
    fill_randint<int64_t>(out, state, low, range);
  }
}

void dropout_kernel(const Tensor& out, const Tensor& x, double p, PhiloxState state) {
  const uint32_t threshold = dropout_threshold(p);
  STRATA_DISPATCH_FLOATING(x.dtype(), "dropout", [&] {
    using compute = compute_t<scalar_t>;
    const compute scale = p < 1 ? static_cast<compute>(1.0 / (1.0 - p)) : compute(0);
    const scalar_t* in = static_cast<const scalar_t*>(x.data_ptr());
    scalar_t* result = static_cast<scalar_t*>(out.data_ptr());
    parallel_for(0, x.numel(), kDropoutGrain, [&](int64_t begin, int64_t end) {
      alignas(64) uint32_t words[kChunk + 8];
      for (int64_t chunk = begin; chunk < end; chunk += kChunk) {
        int64_t count = std::min(kChunk, end - chunk);
        uint64_t first = state.offset + static_cast<uint64_t>(chunk);
        int64_t skip = static_cast<int64_t>(first % 4);
        philox_blocks(state.seed, first / 4, (skip + count + 3) / 4, words);
        dropout_chunk(in + chunk, result + chunk, words + skip, count, threshold, scale);
      }
    });
  });
}

}  // namespace strata::cpu::STRATA_ISA
