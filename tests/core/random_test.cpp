// Philox and the random ops: published known answers, the documented word -> value functions,
// identical streams under any split of a tensor (offsets, chunks, threads, devices), the
// distributions' ranges and moments, seeding, multinomial frequencies, dropout's special cases,
// and the messages of misuse.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "core/dispatch.hpp"
#include "core/factories.hpp"
#include "core/indexing.hpp"
#include "core/nn_ops.hpp"
#include "core/parallel.hpp"
#include "core/random_kernels.hpp"
#include "core/random_values.hpp"

using namespace strata;

namespace {

const DType kFloats[] = {DType::f32, DType::f64, DType::f16, DType::bf16};

// The word at absolute stream slot `slot` of `seed`, from the scalar definition.
uint32_t word_at(uint64_t seed, uint64_t slot) { return philox_bits({seed, 0}, slot); }

// Bitwise equality of two tensors' values (all our random dtypes convert to f64 exactly).
bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         a.to_vector<double>() == b.to_vector<double>();
}

// |observed - expected| within `sigmas` standard errors.
void check_near(double observed, double expected, double standard_error, const char* what,
                double sigmas = 5) {
  CHECK_MESSAGE(std::abs(observed - expected) <= sigmas * standard_error, what, ": observed ",
                observed, ", expected ", expected, " +- ", sigmas * standard_error);
}

// Restores the thread count when a test changes it.
struct ThreadCountGuard {
  int saved = get_num_threads();
  ~ThreadCountGuard() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("philox4x32_10 matches the Random123 known-answer vectors") {
  // philox4x32_10(seed, counter_lo, counter_hi) runs counter words {c0, c1, c2, c3} =
  // {low, high 32 bits of counter_lo, low, high 32 bits of counter_hi} and key words
  // {k0, k1} = {low, high 32 bits of seed}.
  using Words = std::array<uint32_t, 4>;
  CHECK(philox4x32_10(0, 0, 0) == Words{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32_10(0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull) ==
        Words{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  // ctr = 243f6a88 85a308d3 13198a2e 03707344, key = a4093822 299f31d0 (digits of pi).
  CHECK(philox4x32_10(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull) ==
        Words{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
  // philox_bits: slot s is word s % 4 of block s / 4.
  CHECK(philox_bits({0, 0}, 2) == 0xbc57ac4c);
  CHECK(philox_bits({0, 1}, 2) == 0x9b00dbd8);
}

TEST_CASE("Generator reserves disjoint ranges that start on Philox blocks") {
  Generator gen(7);
  CHECK(gen.draw(3).offset == 0);
  CHECK(gen.draw(5).offset == 4);
  CHECK(gen.state().offset == 9);
  CHECK(gen.draw(1).offset == 12);
  gen.set_state({8, 10});
  PhiloxState s = gen.draw(2);
  CHECK(s.seed == 8);
  CHECK(s.offset == 12);
  gen.manual_seed(9);
  CHECK(gen.seed() == 9);
  CHECK(gen.state().offset == 0);

  // Concurrent draws from many threads never overlap.
  Generator shared(1);
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> ranges(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t k = 0; k < 2000; ++k) {
        uint64_t count = 1 + (k * 7 + t) % 13;
        ranges[t].emplace_back(shared.draw(count).offset, count);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<std::pair<uint64_t, uint64_t>> all;
  for (auto& r : ranges) all.insert(all.end(), r.begin(), r.end());
  std::sort(all.begin(), all.end());
  bool disjoint = true, aligned = true;
  for (size_t i = 0; i < all.size(); ++i) {
    aligned = aligned && all[i].first % 4 == 0;
    if (i) disjoint = disjoint && all[i - 1].first + all[i - 1].second <= all[i].first;
  }
  CHECK(disjoint);
  CHECK(aligned);
}

TEST_CASE("random values are the documented functions of the Philox words") {
  // Start just below a carry of the low counter word, so the lane-parallel blocks cross it.
  const uint64_t seed = 0x0123456789abcdefull, start = 4 * (uint64_t{0xffffffff} - 40);
  const int64_t n = 3000;
  Generator gen;

  gen.set_state({seed, start});
  std::vector<float> u32 = rand({n}, {DType::f32}, gen).to_vector<float>();
  gen.set_state({seed, start});
  std::vector<float> u16 = rand({n}, {DType::f16}, gen).to_vector<float>();
  gen.set_state({seed, start});
  std::vector<float> ubf = rand({n}, {DType::bf16}, gen).to_vector<float>();
  gen.set_state({seed, start});
  std::vector<double> u64 = rand({n}, {DType::f64}, gen).to_vector<double>();
  gen.set_state({seed, start});
  std::vector<int64_t> ints =
      randint(-1000, 123456789, {n}, {DType::i64}, gen).to_vector<int64_t>();
  int bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t w = word_at(seed, start + i);
    uint64_t w64 = word_at(seed, start + 2 * i) |
                   static_cast<uint64_t>(word_at(seed, start + 2 * i + 1)) << 32;
    bad += u32[i] != static_cast<float>(w >> 8) * 0x1p-24f;
    bad += u16[i] != static_cast<float>(w >> 21) * 0x1p-11f;
    bad += ubf[i] != static_cast<float>(w >> 24) * 0x1p-8f;
    bad += u64[i] != static_cast<double>(w64 >> 11) * 0x1p-53;
    auto pick =
        static_cast<int64_t>((static_cast<unsigned __int128>(w64) * (123456789 + 1000)) >> 64);
    bad += ints[i] != -1000 + pick;
  }
  CHECK(bad == 0);

  // Normal values pair up by slot: slots 2k and 2k + 1 share a radius and an angle.
  gen.set_state({seed, start});
  std::vector<double> z = randn({n}, {DType::f64}, gen).to_vector<double>();
  gen.set_state({seed, start});
  std::vector<float> z32 = randn({n}, {DType::f32}, gen).to_vector<float>();
  double worst64 = 0, worst32 = 0;
  for (int64_t k = 0; k < n / 2; ++k) {
    uint64_t slot = start + 2 * static_cast<uint64_t>(k);
    double radius =
        std::sqrt(-2 * std::log((static_cast<double>(word_at(seed, slot) >> 8) + 1) * 0x1p-24));
    double angle = 2 * M_PI * static_cast<double>(word_at(seed, slot + 1) >> 8) * 0x1p-24;
    worst32 = std::max({worst32, std::abs(z32[2 * k] - radius * std::cos(angle)),
                        std::abs(z32[2 * k + 1] - radius * std::sin(angle))});
  }
  CHECK(worst32 < 4e-6);
  // f64: element i takes slots start + 2i and 2i + 1, so a pair of elements takes 4 slots.
  auto u53 = [&](uint64_t s) {
    uint64_t w = word_at(seed, s) | static_cast<uint64_t>(word_at(seed, s + 1)) << 32;
    return static_cast<double>(w >> 11);
  };
  for (int64_t m = 0; m < n / 2; ++m) {
    uint64_t slot = start + 4 * static_cast<uint64_t>(m);
    double radius = std::sqrt(-2 * std::log((u53(slot) + 1) * 0x1p-53));
    double angle = 2 * M_PI * u53(slot + 2) * 0x1p-53;
    worst64 = std::max({worst64, std::abs(z[2 * m] - radius * std::cos(angle)),
                        std::abs(z[2 * m + 1] - radius * std::sin(angle))});
  }
  CHECK(worst64 < 1e-13);
}

TEST_CASE("the same (seed, offset) gives the same numbers however a tensor is split") {
  SUBCASE("one draw of 1000 equals draws of 300 and 700 from the same generator") {
    for (DType dtype : kFloats) {
      CAPTURE(dtype_name(dtype));
      Generator whole(11), parts(11);
      Tensor all = rand({1000}, {dtype}, whole);
      Tensor first = rand({300}, {dtype}, parts), second = rand({700}, {dtype}, parts);
      CHECK(same_values(all.slice(0, 0, 300), first));
      CHECK(same_values(all.slice(0, 300, 1000), second));
      Tensor normal = randn({1000}, {dtype}, whole);
      Tensor n1 = randn({300}, {dtype}, parts), n2 = randn({700}, {dtype}, parts);
      CHECK(same_values(normal.slice(0, 0, 300), n1));
      CHECK(same_values(normal.slice(0, 300, 1000), n2));
    }
    for (DType dtype : {DType::i32, DType::i64}) {
      Generator whole(12), parts(12);
      Tensor all = randint(-7, 1000, {1000}, {dtype}, whole);
      Tensor first = randint(-7, 1000, {300}, {dtype}, parts);
      Tensor second = randint(-7, 1000, {700}, {dtype}, parts);
      CHECK(same_values(all.slice(0, 0, 300), first));
      CHECK(same_values(all.slice(0, 300, 1000), second));
    }
  }
  SUBCASE("kernels fill any slice from its own offset, including mid-block and mid-pair") {
    using Fill = void(const Tensor&, PhiloxState);
    Fill* kernels[] = {STRATA_CPU_KERNEL(uniform_kernel), STRATA_CPU_KERNEL(normal_kernel)};
    for (Fill* fill : kernels) {
      for (DType dtype : kFloats) {
        CAPTURE(dtype_name(dtype));
        const uint64_t slots = dtype == DType::f64 ? 2 : 1;
        const PhiloxState state{99, 1001};  // odd: the first element sits mid-block
        Tensor all = empty({5000}, {dtype});
        fill(all, state);
        for (int64_t split : {1, 2, 3, 5, 301, 2049}) {
          CAPTURE(split);
          Tensor tail = empty({5000 - split}, {dtype});
          fill(tail, {state.seed, state.offset + slots * static_cast<uint64_t>(split)});
          CHECK(same_values(all.slice(0, split, 5000), tail));
        }
      }
    }
  }
  SUBCASE("one thread and two threads give the same numbers") {
    ThreadCountGuard guard;
    for (DType dtype : kFloats) {
      CAPTURE(dtype_name(dtype));
      std::vector<Tensor> results;
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        Generator gen(5);
        Tensor x = randn({300001}, {dtype}, gen);
        results.push_back(x);
        results.push_back(rand({300001}, {dtype}, gen));
        results.push_back(dropout(x, 0.4, {17, 3}));
      }
      for (size_t k = 0; k < 3; ++k) CHECK(same_values(results[k], results[k + 3]));
    }
  }
  SUBCASE("dropout of a split tensor with matching offsets equals dropout of the whole") {
    Generator gen(3);
    Tensor x = randn({1000}, {DType::f32}, gen);
    PhiloxState state{21, 4};
    Tensor whole = dropout(x, 0.5, state);
    Tensor head = dropout(x.slice(0, 0, 301), 0.5, state);
    Tensor tail = dropout(x.slice(0, 301, 1000), 0.5, {state.seed, state.offset + 301});
    CHECK(same_values(whole.slice(0, 0, 301), head));
    CHECK(same_values(whole.slice(0, 301, 1000), tail));
  }
}

TEST_CASE("rand, randn and randint have the right ranges and moments") {
  const int64_t n = 400000;
  for (DType dtype : kFloats) {
    CAPTURE(dtype_name(dtype));
    Generator gen(2024);
    // rand: uniform on the grid k / 2^bits, k < 2^bits.
    std::vector<double> u = rand({n}, {dtype}, gen).to_vector<double>();
    int bits = dtype == DType::f64 ? 53 : dtype == DType::f32 ? 24 : dtype == DType::f16 ? 11 : 8;
    double grid = std::ldexp(1.0, -bits);
    double mean = 0, square = 0;
    bool in_range = true;
    for (double v : u) {
      in_range = in_range && v >= 0 && v < 1;
      mean += v;
      square += v * v;
    }
    mean /= n;
    double variance = square / n - mean * mean;
    CHECK(in_range);
    check_near(mean, (1 - grid) / 2, std::sqrt(1.0 / 12 / n), "rand mean");
    check_near(variance, (1 - grid * grid) / 12, std::sqrt((1.0 / 80 - 1.0 / 144) / n),
               "rand variance");

    std::vector<double> z = randn({n}, {dtype}, gen).to_vector<double>();
    double m1 = 0, m2 = 0, m4 = 0, within1 = 0, within2 = 0;
    bool finite = true;
    for (double v : z) {
      finite = finite && std::isfinite(v);
      m1 += v;
      m2 += v * v;
      m4 += v * v * v * v;
      within1 += std::abs(v) < 1;
      within2 += std::abs(v) < 2;
    }
    CHECK(finite);
    check_near(m1 / n, 0, std::sqrt(1.0 / n), "randn mean");
    check_near(m2 / n, 1, std::sqrt(2.0 / n), "randn variance");
    check_near(m4 / n, 3, std::sqrt(96.0 / n), "randn fourth moment");
    check_near(within1 / n, 0.6826894921, std::sqrt(0.6827 * 0.3173 / n), "randn within 1 sigma");
    check_near(within2 / n, 0.9544997361, std::sqrt(0.9545 * 0.0455 / n), "randn within 2 sigma");
  }

  Generator gen(77);
  for (DType dtype : {DType::i32, DType::i64}) {
    std::vector<int64_t> values = randint(-3, 4, {n}, {dtype}, gen).to_vector<int64_t>();
    std::vector<double> counts(7, 0);
    bool in_range = true;
    for (int64_t v : values) {
      in_range = in_range && v >= -3 && v < 4;
      if (v >= -3 && v < 4) ++counts[v + 3];
    }
    CHECK(in_range);
    for (double c : counts) check_near(c / n, 1.0 / 7, std::sqrt(1.0 / 7 * 6 / 7 / n), "randint");
  }
  // The widest ranges reach both signs and stay inside the dtype.
  std::vector<int64_t> wide =
      randint(std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), {1000},
              {DType::i64}, gen)
          .to_vector<int64_t>();
  CHECK(std::count_if(wide.begin(), wide.end(), [](int64_t v) { return v < 0; }) > 400);
  CHECK(std::count_if(wide.begin(), wide.end(), [](int64_t v) { return v > 0; }) > 400);
  std::vector<int64_t> wide32 =
      randint(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), {1000},
              {DType::i32}, gen)
          .to_vector<int64_t>();
  CHECK(*std::min_element(wide32.begin(), wide32.end()) < -1000000000);
  CHECK(*std::max_element(wide32.begin(), wide32.end()) > 1000000000);
}

TEST_CASE("manual_seed makes the default generator reproducible") {
  manual_seed(123);
  Tensor a = randn({257}), b = rand({100}, {DType::bf16}), c = randint(0, 10, {33});
  manual_seed(123);
  CHECK(same_values(a, randn({257})));
  CHECK(same_values(b, rand({100}, {DType::bf16})));
  CHECK(same_values(c, randint(0, 10, {33})));
  CHECK_FALSE(same_values(a, randn({257})));  // the next draw moves on
  manual_seed(124);
  CHECK_FALSE(same_values(a, randn({257})));
}

TEST_CASE("dropout: identity at p = 0, zeros at p = 1, drop rate p, backward uses the same mask") {
  Generator gen(8);
  Tensor x = randn({100000}, {DType::f32}, gen);
  const PhiloxState state{4, 8};
  CHECK(same_values(dropout(x, 0.0, state), x));
  std::vector<float> dropped_all = dropout(x, 1.0, state).to_vector<float>();
  CHECK(std::all_of(dropped_all.begin(), dropped_all.end(), [](float v) { return v == 0; }));

  const double p = 0.25;
  std::vector<float> in = x.to_vector<float>(), out = dropout(x, p, state).to_vector<float>();
  std::vector<float> back = dropout_backward(ones({100000}), p, state).to_vector<float>();
  double dropped = 0;
  bool scaled = true, same_mask = true;
  for (size_t i = 0; i < in.size(); ++i) {
    dropped += out[i] == 0;
    if (out[i] != 0) scaled = scaled && std::abs(out[i] - in[i] / 0.75) <= 1e-6 * std::abs(in[i]);
    same_mask = same_mask && (out[i] == 0) == (back[i] == 0);
  }
  CHECK(scaled);
  CHECK(same_mask);
  check_near(dropped / 100000, p, std::sqrt(p * (1 - p) / 100000), "dropout rate");
  CHECK_FALSE(same_values(dropout(x, p, {4, 12}), dropout(x, p, state)));
}

TEST_CASE("multinomial frequencies match the probabilities") {
  Generator gen(31);
  SUBCASE("with replacement, any scale, zero-mass classes never drawn") {
    const std::vector<double> p = {0.1, 0.2, 0.3, 0.4, 0.0};
    Tensor probs = from_vector(std::vector<float>{0.3f, 0.6f, 0.9f, 1.2f, 0.0f});
    const int64_t n = 200000;
    std::vector<int64_t> samples = multinomial(probs, n, true, gen).to_vector<int64_t>();
    std::vector<double> counts(5, 0);
    for (int64_t s : samples) ++counts[s];
    for (size_t c = 0; c < p.size(); ++c) {
      check_near(counts[c] / n, p[c], std::sqrt(p[c] * (1 - p[c]) / n), "class frequency");
    }
    CHECK(counts[4] == 0);
  }
  SUBCASE("without replacement: first and second draws follow sequential sampling") {
    const std::vector<double> p = {0.1, 0.2, 0.3, 0.4};
    const int64_t rows = 100000;
    Tensor probs = from_vector(std::vector<double>{1, 2, 3, 4}).unsqueeze(0).expand({rows, 4});
    std::vector<int64_t> samples = multinomial(probs, 2, false, gen).to_vector<int64_t>();
    std::vector<double> first(4, 0), second(4, 0);
    bool distinct = true;
    for (int64_t r = 0; r < rows; ++r) {
      ++first[samples[2 * r]];
      ++second[samples[2 * r + 1]];
      distinct = distinct && samples[2 * r] != samples[2 * r + 1];
    }
    CHECK(distinct);
    for (size_t j = 0; j < 4; ++j) {
      double expected_second = 0;  // P(second = j) = sum over i != j of p_i p_j / (1 - p_i)
      for (size_t i = 0; i < 4; ++i) {
        if (i != j) expected_second += p[i] * p[j] / (1 - p[i]);
      }
      check_near(first[j] / rows, p[j], std::sqrt(p[j] * (1 - p[j]) / rows), "first draw");
      check_near(second[j] / rows, expected_second,
                 std::sqrt(expected_second * (1 - expected_second) / rows), "second draw");
    }
  }
  SUBCASE("drawing every class without replacement gives permutations") {
    std::vector<int64_t> samples =
        multinomial(rand({50, 6}, {DType::f32}, gen), 6, false, gen).to_vector<int64_t>();
    bool permutations = true;
    for (int64_t r = 0; r < 50; ++r) {
      std::vector<int64_t> row(samples.begin() + 6 * r, samples.begin() + 6 * r + 6);
      std::sort(row.begin(), row.end());
      permutations = permutations && row == std::vector<int64_t>{0, 1, 2, 3, 4, 5};
    }
    CHECK(permutations);
  }
}

TEST_CASE("random ops give bit-identical values on CPU and CUDA") {
  if (!cuda_is_available()) {
    MESSAGE("no CUDA device: the CPU/CUDA identity of random ops is not checked in this run");
    return;
  }
  const Device gpu = Device::cuda(0);
  for (DType dtype : kFloats) {
    CAPTURE(dtype_name(dtype));
    Generator cpu_gen(41), gpu_gen(41);
    CHECK(same_values(rand({4099}, {dtype}, cpu_gen),
                      rand({4099}, {dtype, gpu}, gpu_gen).to(Device::cpu())));
    CHECK(same_values(randn({4099}, {dtype}, cpu_gen),
                      randn({4099}, {dtype, gpu}, gpu_gen).to(Device::cpu())));
    Tensor x = randn({4099}, {dtype}, cpu_gen);
    CHECK(same_values(dropout(x, 0.3, {5, 7}), dropout(x.to(gpu), 0.3, {5, 7}).to(Device::cpu())));
  }
  for (DType dtype : {DType::i32, DType::i64}) {
    Generator cpu_gen(43), gpu_gen(43);
    CHECK(same_values(randint(-100, 100000, {4099}, {dtype}, cpu_gen),
                      randint(-100, 100000, {4099}, {dtype, gpu}, gpu_gen).to(Device::cpu())));
  }
}

TEST_CASE("random ops, embedding and multinomial name the problem when misused") {
  Tensor x = ones({4});
  CHECK_THROWS_WITH_AS(rand({2}, {DType::i32}),
                       doctest::Contains("rand: dtype i32 is not supported"), Error);
  CHECK_THROWS_WITH_AS(randn({2}, {DType::boolean}), doctest::Contains("randn: dtype bool"), Error);
  CHECK_THROWS_WITH_AS(randint(5, 5, {2}), doctest::Contains("expected low < high"), Error);
  CHECK_THROWS_WITH_AS(randint(0, 3, {2}, {DType::f32}),
                       doctest::Contains("expected an integer dtype"), Error);
  CHECK_THROWS_WITH_AS(randint(0, int64_t{1} << 40, {2}, {DType::i32}),
                       doctest::Contains("does not fit dtype i32"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, 1.5, {}),
                       doctest::Contains("dropout: p must be in [0, 1], got 1.5"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, -0.1, {}), doctest::Contains("p must be in [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(dropout(x, std::nan(""), {}), doctest::Contains("p must be in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout_backward(x, 2, {}), doctest::Contains("dropout_backward: p must be"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout(x.to(DType::i64), 0.5, {}),
                       doctest::Contains("dtype i64 is not supported"), Error);

  Tensor weight = zeros({5, 3});
  CHECK_THROWS_WITH_AS(embedding(weight, from_vector(std::vector<int64_t>{0, 7})),
                       doctest::Contains("embedding: id 7"), Error);
  CHECK_THROWS_WITH_AS(embedding(weight, from_vector(std::vector<int64_t>{0, 7})),
                       doctest::Contains("vocabulary of 5 rows"), Error);
  CHECK_THROWS_WITH_AS(embedding(weight, from_vector(std::vector<int32_t>{-1})),
                       doctest::Contains("id -1"), Error);
  CHECK_THROWS_WITH_AS(embedding(weight, ones({2})),
                       doctest::Contains("ids must be i32 or i64, got f32"), Error);
  CHECK_THROWS_WITH_AS(embedding(ones({5}), from_vector(std::vector<int64_t>{0})),
                       doctest::Contains("weight must be 2-D"), Error);
  CHECK_THROWS_WITH_AS(
      embedding_backward(ones({3, 4}), from_vector(std::vector<int64_t>{0, 1}), 5),
      doctest::Contains("embedding_backward: grad has shape [3, 4] but ids have shape [2]"), Error);
  CHECK_THROWS_WITH_AS(embedding_backward(ones({2, 4}), from_vector(std::vector<int64_t>{0, 9}), 5),
                       doctest::Contains("id 9"), Error);

  CHECK_THROWS_WITH_AS(multinomial(from_vector(std::vector<float>{0.5f, -0.1f}), 1),
                       doctest::Contains("probability -0.1"), Error);
  CHECK_THROWS_WITH_AS(multinomial(zeros({2, 3}), 1),
                       doctest::Contains("row 0 has no probability mass"), Error);
  CHECK_THROWS_WITH_AS(
      multinomial(ones({3}), 4),
      doctest::Contains("cannot draw 4 samples without replacement from 3 classes"), Error);
  CHECK_THROWS_WITH_AS(multinomial(from_vector(std::vector<float>{1, 0, 0}), 2),
                       doctest::Contains("1 classes with non-zero probability"), Error);
  CHECK_THROWS_WITH_AS(multinomial(ones({3}), 0, true),
                       doctest::Contains("num_samples must be positive"), Error);
  CHECK_THROWS_WITH_AS(multinomial(ones({2, 2, 2}), 1),
                       doctest::Contains("probs must be [C] or [N, C]"), Error);
}
