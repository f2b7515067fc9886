// The GEMM section: square products 256^3 ... 2048^3 and the products of a transformer MLP layer
// (x [4096, 768] times a [768, 3072] weight, forward and both backward products), in f32 and bf16,
// on one thread and all threads, for Strata's matmul and every registered library on the same
// buffers. Also registers the two libraries that are always present: Strata and oneDNN direct.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <random>
#include <unordered_map>

#include "bench/bench.hpp"
#include "bench/gemm_library.hpp"
#include "core/factories.hpp"
#include "core/linalg.hpp"
#include "core/parallel.hpp"

namespace strata::bench {

std::vector<GemmLibrary>& library_registry() {
  static std::vector<GemmLibrary> libraries;
  return libraries;
}
bool register_gemm_library(GemmLibrary library) {
  library_registry().push_back(std::move(library));
  return true;
}
const std::vector<GemmLibrary>& gemm_libraries() { return library_registry(); }

namespace {

struct GemmShape {
  std::string name;
  int64_t m, k, n;
  bool trans_a, trans_b;
  std::string shape() const {
    return std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n) +
           (trans_a ? " a^T" : " a") + " @ " + (trans_b ? "b^T" : "b");
  }
};

std::vector<GemmShape> shapes(const Options& options) {
  std::vector<GemmShape> list;
  for (int64_t size : {256, 512, 1024, 2048}) {
    if (options.quick && size > 512) break;
    list.push_back({"square_" + std::to_string(size), size, size, size, false, false});
  }
  if (options.quick) return list;
  // y = x @ W^T (W [3072, 768] as Linear stores it); dx = dy @ W; dW^T = x^T @ dy.
  list.push_back({"transformer_fwd", 4096, 768, 3072, false, true});
  list.push_back({"transformer_dgrad", 4096, 3072, 768, false, false});
  list.push_back({"transformer_wgrad", 768, 4096, 3072, true, false});
  return list;
}

Tensor random_matrix(int64_t rows, int64_t cols, DType dtype, uint64_t seed) {
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(rows * cols));
  for (float& v : values) v = dist(rng);
  return from_vector(values, {rows, cols}).to(dtype);
}

dnnl::memory::desc matrix_desc(int64_t rows, int64_t cols, bool transposed, DType dtype) {
  auto type = dtype == DType::bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
  return transposed ? dnnl::memory::desc({rows, cols}, type, {1, rows})
                    : dnnl::memory::desc({rows, cols}, type, {cols, 1});
}

const bool registered = [] {
  register_gemm_library({
      .name = "strata",
      .dtypes = {DType::f32, DType::bf16},
      .set_threads = [](int threads) { set_num_threads(threads); },
      .prepare = [](const GemmProblem& p) -> std::function<void()> {
        Tensor a = p.trans_a ? p.a.t() : p.a, b = p.trans_b ? p.b.t() : p.b;
        return [a, b] { matmul(a, b); };
      },
  });
  register_gemm_library({
      .name = "onednn",
      .dtypes = {DType::f32, DType::bf16},
      .set_threads = [](int threads) { set_num_threads(threads); },
      .prepare = [](const GemmProblem& p) -> std::function<void()> {
        static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
        auto a = matrix_desc(p.m, p.k, p.trans_a, p.dtype());
        auto b = matrix_desc(p.k, p.n, p.trans_b, p.dtype());
        auto c = matrix_desc(p.m, p.n, false, p.dtype());
        dnnl::matmul matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, c), engine));
        std::unordered_map<int, dnnl::memory> args = {
            {DNNL_ARG_SRC, dnnl::memory(a, engine, p.a.data_ptr())},
            {DNNL_ARG_WEIGHTS, dnnl::memory(b, engine, p.b.data_ptr())},
            {DNNL_ARG_DST, dnnl::memory(c, engine, p.c.data_ptr())}};
        return [matmul, args, stream = dnnl::stream(engine)]() mutable {
          matmul.execute(stream, args);
          stream.wait();
        };
      },
  });
  return true;
}();

}  // namespace

void bench_gemm(const Options& options, const Limits& limits) {
  // Strata first, then the others by name.
  std::vector<GemmLibrary> libraries = gemm_libraries();
  std::sort(libraries.begin(), libraries.end(), [](const GemmLibrary& x, const GemmLibrary& y) {
    return std::make_pair(x.name != "strata", x.name) < std::make_pair(y.name != "strata", y.name);
  });
  for (const GemmShape& shape : shapes(options)) {
    if (!options.selected("gemm", shape.name)) continue;
    for (DType dtype : {DType::f32, DType::bf16}) {
      GemmProblem problem{shape.m,
                          shape.k,
                          shape.n,
                          shape.trans_a,
                          shape.trans_b,
                          shape.trans_a ? random_matrix(shape.k, shape.m, dtype, 1)
                                        : random_matrix(shape.m, shape.k, dtype, 1),
                          shape.trans_b ? random_matrix(shape.n, shape.k, dtype, 2)
                                        : random_matrix(shape.k, shape.n, dtype, 2),
                          empty({shape.m, shape.n}, {dtype})};
      const double flops = 2.0 * shape.m * shape.k * shape.n;
      const double peak = dtype == DType::bf16 ? limits.dot_bf16_gflops : limits.fma_f32_gflops;
      for (int threads : {1, options.max_threads}) {
        for (const GemmLibrary& library : libraries) {
          if (std::find(library.dtypes.begin(), library.dtypes.end(), dtype) ==
              library.dtypes.end()) {
            continue;
          }
          set_num_threads(threads);  // the OpenMP pool, for libraries that use it
          library.set_threads(threads);
          std::function<void()> call = library.prepare(problem);
          double seconds = median_seconds(call, options);
          double gflops = flops / seconds / 1e9;
          Record record{.bench = "gemm",
                        .name = shape.name,
                        .dtype = std::string(dtype_name(dtype)),
                        .shape = shape.shape(),
                        .library = library.name,
                        .threads = threads,
                        .seconds = seconds,
                        .gflops = gflops};
          if (peak > 0) record.fraction_of_peak = gflops / (peak * threads);
          print(record);
        }
        if (options.max_threads == 1) break;
      }
    }
  }
  set_num_threads(options.max_threads);
}

}  // namespace strata::bench
