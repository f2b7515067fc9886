// A language-model dataset over one long token sequence (a token file, an encoded corpus): example
// i is the window of T + 1 tokens starting at i * stride, split into inputs (its first T tokens)
// and targets (its last T). With stride = T (the default) the windows tile the sequence without
// overlap (each token is a target once per epoch); a smaller stride gives overlapping windows.
// Fixed windows make an epoch and a position in it well defined, unlike io/window_sampler.hpp's
// random starts.
//
//   TokenWindowDataset train(read_token_file("train.bin"), /*context=*/1024);
//   Example window = train.get(3);  // inputs, targets i64 [1024]: tokens 3072..4096
#pragma once

#include "io/dataset.hpp"

namespace strata::io {

class TokenWindowDataset : public Dataset {
 public:
  // tokens: an i32 or i64 CPU tensor [n] with n > context; stride 0 means stride = context.
  TokenWindowDataset(Tensor tokens, int64_t context, int64_t stride = 0);

  // Windows that fit whole: (n - context - 1) / stride + 1.
  int64_t size() const override;
  int64_t context() const { return context_; }
  int64_t stride() const { return stride_; }
  Example get(int64_t index) const override;                              // i64 [T], [T]
  Example get_batch(const std::vector<int64_t>& indices) const override;  // i64 [B, T], [B, T]

 private:
  Tensor tokens_;
  int64_t context_;
  int64_t stride_;
};

}  // namespace strata::io
