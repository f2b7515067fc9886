// Strata's public API in one include.
#pragma once

#include "core/allocator.hpp"    // memory_stats, empty_cache
#include "core/conv.hpp"         // conv2d, max_pool2d, avg_pool2d
#include "core/elementwise.hpp"  // unary/binary ops, comparisons, where
#include "core/factories.hpp"    // zeros, ones, arange, rand, randn, from_vector, ...
#include "core/indexing.hpp"     // cat, stack, split, gather, scatter, topk, multinomial
#include "core/linalg.hpp"       // matmul, bmm, linear
#include "core/nn_ops.hpp"       // softmax, layer_norm, rms_norm, cross_entropy, embedding, dropout
#include "core/parallel.hpp"     // set_num_threads
#include "core/random.hpp"       // Generator, manual_seed
#include "core/reduce.hpp"       // sum, mean, amax, var, norm, max, argmax
#include "core/tensor.hpp"       // Tensor

#include "autograd/checkpoint.hpp"  // activation checkpointing
#include "autograd/engine.hpp"      // backward, tensor and gradient-ready hooks
#include "autograd/function.hpp"    // user-defined differentiable functions
#include "autograd/gradcheck.hpp"   // gradients against finite differences
#include "core/autograd_record.hpp"  // NoGradGuard, EnableGradGuard, the autograd vocabulary
