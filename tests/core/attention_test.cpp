// flash_attention beyond the harness: misuse names the op and the shapes, results do not depend
// on the thread count, and the output lies in [B, T, H, D] memory so merging the heads is free.
#include <doctest/doctest.h>

#include "core/attention.hpp"
#include "core/factories.hpp"
#include "core/random.hpp"
#include "test_support.hpp"

namespace strata {
namespace {

using test::contains;
using test::error_of;

TEST_CASE("flash_attention: misuse names the op and the shapes") {
  Tensor q = randn({2, 3, 5, 4}), k = randn({2, 3, 7, 4}), v = randn({2, 3, 7, 4});
  std::string message = error_of([&] { flash_attention(q, k, v.narrow(3, 0, 3), false, 0.5); });
  CHECK(contains(message, "flash_attention"));
  CHECK(contains(message, "[2, 3, 7, 3]"));
  message = error_of([&] { flash_attention(q, k, v, true, 0.5); });
  CHECK(contains(message, "causal attention needs as many keys as queries"));
  message = error_of([&] { flash_attention(q, k.to(DType::f64), v, false, 0.5); });
  CHECK(contains(message, "flash_attention"));
  CHECK(contains(message, "f64"));
  message = error_of([&] { flash_attention(q.view({6, 5, 4}), k, v, false, 0.5); });
  CHECK(contains(message, "expected q [B, H, T, D]"));
  FlashAttentionResult r = flash_attention(q, k, v, false, 0.5);
  message = error_of([&] {
    flash_attention_backward(r.output, q, k, v, r.output, r.logsumexp.to(DType::f64), false, 0.5);
  });
  CHECK(contains(message, "flash_attention_backward"));
  CHECK(contains(message, "logsumexp"));
}

TEST_CASE("flash_attention: the same results at any thread count") {
  manual_seed(3);
  Tensor q = randn({2, 2, 37, 8}), k = randn({2, 2, 37, 8}), v = randn({2, 2, 37, 8});
  Tensor grad = randn({2, 2, 37, 8});
  test::check_same_at_any_thread_count([&] {
    FlashAttentionResult r = flash_attention(q, k, v, true, 0.35);
    FlashAttentionGrads g =
        flash_attention_backward(grad, q, k, v, r.output, r.logsumexp, true, 0.35);
    return std::vector<Tensor>{r.output, r.logsumexp, g.q, g.k, g.v};
  });
}

TEST_CASE("flash_attention: output heads lie side by side per token") {
  Tensor q = randn({2, 3, 5, 4});
  Tensor out = flash_attention(q, q, q, true, 0.5).output;
  CHECK(out.shape() == Shape{2, 3, 5, 4});
  CHECK(out.transpose(1, 2).is_contiguous());  // [B, T, H, D]: reshape to [B, T, H * D] is a view
}

}  // namespace
}  // namespace strata
