// Every tensor op of the core library, by name. The op harness (tests/core/op_harness.hpp) fails a
// test for any name here that has no harness entry, so a new op cannot land untested.
#pragma once

// X(name) for each op, one family per line.
// clang-format off
#define STRATA_CORE_OPS(X)                                                                        \
  /* element-wise unary (elementwise.hpp) */                                                      \
  X(neg) X(exp) X(log) X(sqrt) X(rsqrt) X(abs) X(tanh) X(sigmoid) X(relu) X(gelu) X(gelu_tanh)   \
  X(silu) X(clamp)                                                                                \
  /* element-wise binary, with broadcasting, and with a scalar */                                \
  X(add) X(sub) X(mul) X(div) X(pow) X(maximum) X(minimum)                                        \
  X(add_scalar) X(sub_scalar) X(mul_scalar) X(div_scalar) X(pow_scalar)                           \
  X(eq) X(ne) X(lt) X(le) X(gt) X(ge) X(where)                                                    \
  /* reductions (reduce.hpp) */                                                                   \
  X(sum) X(mean) X(amax) X(amin) X(max) X(min) X(argmax) X(argmin) X(var) X(norm)                 \
  X(count_nonfinite)                                                                              \
  /* matrix products (linalg.hpp) */                                                              \
  X(matmul) X(bmm) X(linear) X(linear_gelu)                                                       \
  /* neural-network kernels (nn_ops.hpp, conv.hpp) */                                             \
  X(softmax) X(log_softmax) X(layer_norm) X(add_layer_norm) X(rms_norm) X(cross_entropy)          \
  X(embedding) X(dropout) X(flash_attention)                                                      \
  X(conv2d) X(max_pool2d) X(avg_pool2d)                                                           \
  /* joining, splitting and indexing (indexing.hpp) */                                            \
  X(cat) X(stack) X(split) X(chunk) X(index_select) X(gather) X(scatter) X(scatter_add)           \
  X(masked_fill) X(topk) X(multinomial)                                                           \
  /* conversion and copies (tensor.hpp) */                                                        \
  X(cast) X(copy) X(fill)
// clang-format on
