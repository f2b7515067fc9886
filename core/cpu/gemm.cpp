// CPU GEMM: f32 and bf16 through oneDNN's matmul primitive (chosen by measurement,
// docs/BENCHMARKS.md: among the fastest for f32 on one and two threads, and the only candidate with
// a bf16 kernel), f16 through f32, f64 through a plain loop.
//
// Operand strides go into oneDNN's memory descriptors as they are, so transposed views are read in
// place. bf16 runs oneDNN's avx512_core_bf16 kernels (vdpbf16ps) with f32 accumulation. Creating a
// primitive costs far more than a small product, so primitives live in a small LRU keyed by all
// that shapes them: dtype, dims, strides, bias, and the thread count (oneDNN fixes its split of the
// work when it creates a primitive). oneDNN runs on OpenMP, which is Strata's thread pool.
#include <oneapi/dnnl/dnnl.hpp>

#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/factories.hpp"
#include "core/gemm.hpp"
#include "core/parallel.hpp"

namespace strata::cpu {
namespace {

using dnnl::memory;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

memory::desc describe(const Tensor& t) {
  memory::data_type type =
      t.dtype() == DType::bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  return memory::desc(memory::dims(t.shape().begin(), t.shape().end()), type,
                      memory::dims(t.strides().begin(), t.strides().end()));
}

// The bias as oneDNN broadcasts it: a view [1, ..., 1, N] at c's rank.
memory::desc describe_bias(const Tensor& bias, int64_t rank) {
  const int64_t n = bias.numel();
  Shape shape(rank, 1), strides(rank, n);
  shape.back() = n;
  strides.back() = 1;
  return describe(Tensor(bias.storage(), shape, strides, bias.offset(), bias.dtype()));
}

struct Matmul {
  dnnl::matmul primitive;
  memory::desc a, b, c, bias;
};

// Everything a primitive depends on: dtype, threads, bias or not, then a's and b's dims and
// strides (c's follow from them).
using Key = std::vector<int64_t>;

Key make_key(const GemmArgs& g) {
  Key key = {static_cast<int64_t>(g.a.dtype()), get_num_threads(), g.bias.defined(), g.a.dim()};
  for (const Tensor* t : {&g.a, &g.b}) {
    for (int64_t d = 0; d < t->dim(); ++d) {
      key.push_back(t->size(d));
      key.push_back(t->stride(d));
    }
  }
  return key;
}

struct KeyHash {
  size_t operator()(const Key& key) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : key) h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

Matmul create(const GemmArgs& g) {
  Matmul m{{}, describe(g.a), describe(g.b), describe(g.c), {}};
  dnnl::matmul::desc desc = [&] {
    if (!g.bias.defined()) return dnnl::matmul::desc(m.a, m.b, m.c);
    m.bias = describe_bias(g.bias, g.c.dim());
    return dnnl::matmul::desc(m.a, m.b, m.bias, m.c);
  }();
  m.primitive = dnnl::matmul(dnnl::matmul::primitive_desc(desc, cpu_engine()));
  return m;
}

// The most recently used primitives, most recent first.
class MatmulCache {
 public:
  Matmul get(const GemmArgs& g) {
    Key key = make_key(g);
    std::lock_guard lock(mutex_);
    if (auto found = index_.find(key); found != index_.end()) {
      entries_.splice(entries_.begin(), entries_, found->second);
      return found->second->second;
    }
    entries_.emplace_front(key, create(g));
    index_.emplace(std::move(key), entries_.begin());
    if (entries_.size() > kCapacity) {
      index_.erase(entries_.back().first);
      entries_.pop_back();
    }
    return entries_.front().second;
  }

 private:
  static constexpr size_t kCapacity = 64;
  std::mutex mutex_;
  std::list<std::pair<Key, Matmul>> entries_;
  std::unordered_map<Key, std::list<std::pair<Key, Matmul>>::iterator, KeyHash> index_;
};

void onednn_gemm(const GemmArgs& g) {
  static MatmulCache cache;
  Matmul m = cache.get(g);
  dnnl::engine& engine = cpu_engine();
  // Streams are not shared between threads; with OpenMP, execution is synchronous on this thread.
  thread_local dnnl::stream stream(engine);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, memory(m.a, engine, g.a.data_ptr())},
                                          {DNNL_ARG_WEIGHTS, memory(m.b, engine, g.b.data_ptr())},
                                          {DNNL_ARG_DST, memory(m.c, engine, g.c.data_ptr())}};
  if (g.bias.defined()) args.emplace(DNNL_ARG_BIAS, memory(m.bias, engine, g.bias.data_ptr()));
  m.primitive.execute(stream, args);
  stream.wait();
}

}  // namespace

void gemm(const GemmArgs& g) {
  switch (g.c.dtype()) {
    case DType::f32:
    case DType::bf16: onednn_gemm(g); return;
    case DType::f16: {
      // oneDNN 2.6 has f16 matmul kernels only for CPUs with AVX512-FP16 (none of ours: there it
      // has no implementation at all), so f16 runs as f32 on converted copies, rounded once at the
      // end: the same f32 accumulation as bf16, at twice the memory traffic.
      Tensor c32 = empty(g.c.shape(), {DType::f32});
      Tensor bias32 = g.bias.defined() ? g.bias.to(DType::f32) : g.bias;
      onednn_gemm({g.a.to(DType::f32), g.b.to(DType::f32), c32, bias32});
      Tensor(g.c).copy_(c32);
      return;
    }
    case DType::f64: STRATA_CPU_KERNEL(gemm_f64)(g); return;
    default: fail("matmul: no CPU GEMM for dtype ", dtype_name(g.c.dtype()));
  }
}

}  // namespace strata::cpu
