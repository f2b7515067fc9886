// Language-model batches from one long token sequence: windows of T + 1 consecutive tokens; the
// inputs are each window's first T tokens, the targets its last T (the next token at every
// position). sample_token_windows draws the starts at random; gather_token_windows takes them
// from the caller (the token-window dataset's fixed windows).
#pragma once

#include <cstdint>
#include <vector>

#include "core/random.hpp"
#include "core/tensor.hpp"

namespace strata::io {

struct TokenBatch {
  Tensor inputs;   // i64 [B, T]
  Tensor targets;  // i64 [B, T]: targets[b][t] = inputs[b][t + 1], and one more token at t = T-1
};

// Draws the B window starts from gen (one randint of B values), so a seeded Generator gives the
// same batches run after run. tokens: an i32 or i64 CPU tensor [n] with n > T.
TokenBatch sample_token_windows(const Tensor& tokens, int64_t batch_size, int64_t context,
                                Generator& gen);

// The windows tokens[starts[b], starts[b] + T] for b < B = starts.size(); every start must lie
// in [0, n - T). tokens as above.
TokenBatch gather_token_windows(const Tensor& tokens, const std::vector<int64_t>& starts,
                                int64_t context);

}  // namespace strata::io
